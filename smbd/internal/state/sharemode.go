package state

import "slices"

// Access bits that take part in share-mode checks ([MS-FSA] §2.1.5.1.2).
const (
	accessReadData   = 0x00000001
	accessWriteData  = 0x00000002
	accessAppendData = 0x00000004
	accessExecute    = 0x00000020
	accessDelete     = 0x00010000

	shareRead   = 0x1
	shareWrite  = 0x2
	shareDelete = 0x4

	// statOnlyAccess are rights that make an open a "stat open".
	statOnlyAccess = 0x00000080 | 0x00000100 | 0x00100000 // READ/WRITE_ATTRIBUTES, SYNCHRONIZE
)

// IsStatOpen reports whether an open with access takes part in no
// share-mode conflict.
func IsStatOpen(access uint32) bool { return access&^uint32(statOnlyAccess) == 0 }

func usesRead(a uint32) bool   { return a&(accessReadData|accessExecute) != 0 }
func usesWrite(a uint32) bool  { return a&(accessWriteData|accessAppendData) != 0 }
func usesDelete(a uint32) bool { return a&accessDelete != 0 }

// ShareConflict reports whether a new open with access and share would
// violate the sharing of an existing entry, or the reverse.
func ShareConflict(e *ShareEntry, access, share uint32) bool {
	if e.Flags&ShareFlagStatOpen != 0 || IsStatOpen(access) {
		return false
	}
	if usesRead(e.Access) && share&shareRead == 0 ||
		usesWrite(e.Access) && share&shareWrite == 0 ||
		usesDelete(e.Access) && share&shareDelete == 0 {
		return true
	}
	return usesRead(access) && e.ShareAccess&shareRead == 0 ||
		usesWrite(access) && e.ShareAccess&shareWrite == 0 ||
		usesDelete(access) && e.ShareAccess&shareDelete == 0
}

// Conflicts reports whether any entry of s conflicts with a new open.
func (s *ShareModes) Conflicts(access, share uint32) bool {
	for i := range s.Entries {
		if ShareConflict(&s.Entries[i], access, share) {
			return true
		}
	}
	return false
}

// Remove deletes the entry of open and returns it.
func (s *ShareModes) Remove(open OpenRef) (ShareEntry, bool) {
	for i, e := range s.Entries {
		if e.Open == open {
			s.Entries = append(s.Entries[:i], s.Entries[i+1:]...)
			return e, true
		}
	}
	return ShareEntry{}, false
}

// Find returns the entry of open.
func (s *ShareModes) Find(open OpenRef) *ShareEntry {
	for i := range s.Entries {
		if s.Entries[i].Open == open {
			return &s.Entries[i]
		}
	}
	return nil
}

// oplockLevelII is SMB2_OPLOCK_LEVEL_II ([MS-SMB2] §2.2.13).
const oplockLevelII = 0x01

// Process is the smbd process serving the open.
func (o OpenRef) Process() Process { return Process{Node: o.Node, Instance: o.Server} }

// owners lists, once each, the processes other than self of refs.
func owners[T any](items []T, ref func(*T) OpenRef, self Process) []Process {
	var out []Process
	for i := range items {
		p := ref(&items[i]).Process()
		if p != self && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// Owners lists the processes other than self that have opens of the file.
func (s *ShareModes) Owners(self Process) []Process {
	return owners(s.Entries, func(e *ShareEntry) OpenRef { return e.Open }, self)
}

// DropProcesses removes the opens of the processes in gone (processes
// that ended without closing them) and returns how many of those held a
// level II oplock.
func (s *ShareModes) DropProcesses(gone map[Process]bool) (levelII int) {
	out := s.Entries[:0]
	for _, e := range s.Entries {
		if gone[e.Open.Process()] {
			if e.OplockLevel == oplockLevelII {
				levelII++
			}
			continue
		}
		out = append(out, e)
	}
	s.Entries = out
	return levelII
}
