package state

import (
	"context"
	"encoding/binary"
	"errors"
)

// Byte-range lock errors.
var (
	// ErrLockConflict: a lock request conflicts with an existing lock.
	ErrLockConflict = errors.New("state: lock conflict")
	// ErrNotLocked: an unlock names a range that is not locked.
	ErrNotLocked = errors.New("state: range not locked")
)

// Lock is one byte-range lock.
type Lock struct {
	Open      OpenRef
	Offset    uint64
	Length    uint64
	Exclusive bool
}

const lockSize = openRefSize + 8 + 8 + 1

// Locks is the record of all byte-range locks of one file, in the order
// they were granted. It also counts the file's level II oplocks, because
// every read and write consults this record anyway and a write must break
// them (the same trick Samba's brlock database uses).
type Locks struct {
	Locks   []Lock
	LevelII uint32
}

func (l *Locks) empty() bool { return len(l.Locks) == 0 && l.LevelII == 0 }

func (l *Locks) encode() []byte {
	b := []byte{recordVersion}
	b = binary.LittleEndian.AppendUint32(b, l.LevelII)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(l.Locks)))
	for _, x := range l.Locks {
		b = appendOpenRef(b, x.Open)
		b = binary.LittleEndian.AppendUint64(b, x.Offset)
		b = binary.LittleEndian.AppendUint64(b, x.Length)
		ex := byte(0)
		if x.Exclusive {
			ex = 1
		}
		b = append(b, ex)
	}
	return b
}

func decodeLocks(b []byte) (*Locks, error) {
	l := &Locks{}
	if b == nil {
		return l, nil
	}
	if len(b) < 9 || b[0] != recordVersion {
		return nil, ErrCorrupt
	}
	l.LevelII = binary.LittleEndian.Uint32(b[1:])
	n := int(binary.LittleEndian.Uint32(b[5:]))
	b = b[9:]
	if n > len(b)/lockSize || len(b) != n*lockSize {
		return nil, ErrCorrupt
	}
	l.Locks = make([]Lock, n)
	for i := range l.Locks {
		x := &l.Locks[i]
		x.Open = getOpenRef(b)
		x.Offset = binary.LittleEndian.Uint64(b[openRefSize:])
		x.Length = binary.LittleEndian.Uint64(b[openRefSize+8:])
		x.Exclusive = b[openRefSize+16] != 0
		b = b[lockSize:]
	}
	return l, nil
}

// overlap follows Windows: ranges overlap when they share a byte; a
// zero-length range at X overlaps a range containing X; two identical
// non-empty ranges always overlap (even at the end of the 64-bit space).
func overlap(a, b *Lock) bool {
	if a.Length != 0 && a.Offset == b.Offset && a.Length == b.Length {
		return true
	}
	aEnd, bEnd := a.Offset+a.Length, b.Offset+b.Length
	if aEnd < a.Offset {
		aEnd = ^uint64(0)
	}
	if bEnd < b.Offset {
		bEnd = ^uint64(0)
	}
	return !(a.Offset >= bEnd || b.Offset >= aEnd)
}

// lockConflict reports whether a new lock conflicts with an existing one.
// Shared locks never conflict; a shared lock may stack on the same open's
// exclusive lock.
func lockConflict(existing, req *Lock) bool {
	if !existing.Exclusive && !req.Exclusive {
		return false
	}
	if existing.Exclusive && !req.Exclusive && existing.Open == req.Open {
		return false
	}
	return overlap(existing, req)
}

// CanLock reports whether req can be granted.
func (l *Locks) CanLock(req *Lock) bool {
	for i := range l.Locks {
		if lockConflict(&l.Locks[i], req) {
			return false
		}
	}
	return true
}

// Unlock removes the first lock of open exactly matching offset and
// length.
func (l *Locks) Unlock(open OpenRef, offset, length uint64) error {
	for i, x := range l.Locks {
		if x.Open == open && x.Offset == offset && x.Length == length {
			l.Locks = append(l.Locks[:i], l.Locks[i+1:]...)
			return nil
		}
	}
	return ErrNotLocked
}

// RemoveOpen drops every lock of open and reports whether any was held.
func (l *Locks) RemoveOpen(open OpenRef) bool {
	out := l.Locks[:0]
	for _, x := range l.Locks {
		if x.Open != open {
			out = append(out, x)
		}
	}
	removed := len(out) != len(l.Locks)
	l.Locks = out
	return removed
}

// IOConflict reports whether a read (write=false) or write by open of
// [offset, offset+length) is blocked by a lock. A write is also blocked by
// the same open's shared lock.
func (l *Locks) IOConflict(open OpenRef, offset, length uint64, write bool) bool {
	if length == 0 {
		return false
	}
	probe := Lock{Open: open, Offset: offset, Length: length, Exclusive: write}
	for i := range l.Locks {
		x := &l.Locks[i]
		if !x.Exclusive && !write {
			continue
		}
		if x.Open == open && (!write || x.Exclusive) {
			continue
		}
		if overlap(x, &probe) {
			return true
		}
	}
	return false
}

// ModifyLocks runs fn on the lock record of key under its lock.
func (s *Store) ModifyLocks(ctx context.Context, key FileKey, fn func(*Locks) error) error {
	return modify(ctx, s.Locks, key.Bytes(), decodeLocks, (*Locks).encode, (*Locks).empty, fn)
}

// ModifyLocksOrWatch is ModifyLocks for blocking requests: when fn returns
// ErrLockConflict, the record is left unchanged and a watch for its next
// change is returned, registered before the record lock was dropped so no
// unlock can be missed.
func (s *Store) ModifyLocksOrWatch(ctx context.Context, key FileKey, fn func(*Locks) error) (<-chan struct{}, func(), error) {
	rec, err := s.Locks.FetchLock(ctx, key.Bytes())
	if err != nil {
		return nil, nil, err
	}
	l, err := decodeLocks(rec.Data())
	if err != nil {
		rec.Unlock()
		return nil, nil, err
	}
	if err := fn(l); err != nil {
		if errors.Is(err, ErrLockConflict) {
			ch, cancel := rec.Watch()
			rec.Unlock()
			return ch, cancel, err
		}
		rec.Unlock()
		return nil, nil, err
	}
	if l.empty() {
		if rec.Data() == nil {
			rec.Unlock()
			return nil, nil, nil
		}
		return nil, nil, rec.Delete(ctx)
	}
	return nil, nil, rec.Store(ctx, l.encode())
}

// ReadLocks returns a snapshot of the lock record of key.
func (s *Store) ReadLocks(ctx context.Context, key FileKey) (*Locks, error) {
	rec, err := s.Locks.FetchLock(ctx, key.Bytes())
	if err != nil {
		return nil, err
	}
	defer rec.Unlock()
	return decodeLocks(rec.Data())
}

// Owners lists the processes other than self that hold locks on the file.
func (l *Locks) Owners(self Process) []Process {
	return owners(l.Locks, func(x *Lock) OpenRef { return x.Open }, self)
}

// DropProcesses removes the locks of the processes in gone and
// decrements the level II count by levelII (their oplocks).
func (l *Locks) DropProcesses(gone map[Process]bool, levelII int) {
	out := l.Locks[:0]
	for _, x := range l.Locks {
		if !gone[x.Open.Process()] {
			out = append(out, x)
		}
	}
	l.Locks = out
	l.LevelII -= uint32(min(levelII, int(l.LevelII)))
}
