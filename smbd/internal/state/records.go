package state

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrCorrupt reports a record that does not decode.
var ErrCorrupt = errors.New("state: corrupt record")

const recordVersion = 1

// FileKey identifies a file cluster-wide: the device and inode number on
// the shared file system, and for a named stream a hash of its name.
type FileKey struct{ Dev, Ino, Stream uint64 }

// Bytes is the database key.
func (k FileKey) Bytes() []byte {
	b := make([]byte, 0, 24)
	b = binary.BigEndian.AppendUint64(b, k.Dev)
	b = binary.BigEndian.AppendUint64(b, k.Ino)
	if k.Stream != 0 {
		b = binary.BigEndian.AppendUint64(b, k.Stream)
	}
	return b
}

// OpenRef names one open anywhere in the cluster.
type OpenRef struct {
	Node   uint32 // PNN of the node serving the open
	Server uint64 // smbd instance id, so a restarted smbd's stale entries can be told apart
	OpenID uint64 // the open's FileId.Persistent, unique cluster-wide
}

const openRefSize = 4 + 8 + 8

func appendOpenRef(b []byte, o OpenRef) []byte {
	b = binary.LittleEndian.AppendUint32(b, o.Node)
	b = binary.LittleEndian.AppendUint64(b, o.Server)
	return binary.LittleEndian.AppendUint64(b, o.OpenID)
}

func getOpenRef(b []byte) OpenRef {
	return OpenRef{binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint64(b[4:]), binary.LittleEndian.Uint64(b[12:])}
}

// ShareEntry is one open of a file as other opens must see it. Oplock,
// lease and durable fields are reserved in Flags and Reserved for the
// later layers.
type ShareEntry struct {
	Open        OpenRef
	Access      uint32 // granted access mask
	ShareAccess uint32 // FILE_SHARE_* bits
	Flags       uint32 // ShareFlag*
	OplockLevel uint8
	BreakTo     uint8 // the level a pending break goes to (ShareFlagBreaking)
	LeaseKey    [16]byte
	ClientGUID  [16]byte
}

// Share entry flags.
const (
	// ShareFlagDeleteOnClose: this open asked for delete on close.
	ShareFlagDeleteOnClose uint32 = 1 << 0
	// ShareFlagStatOpen: an attribute-only open that takes part in no
	// share-mode conflict.
	ShareFlagStatOpen uint32 = 1 << 1
	// ShareFlagDurable: a durable handle (reserved).
	ShareFlagDurable uint32 = 1 << 2
	// ShareFlagBreaking: an oplock break to BreakTo awaits the holder's
	// acknowledgement.
	ShareFlagBreaking uint32 = 1 << 3
)

const shareEntrySize = openRefSize + 4 + 4 + 4 + 1 + 1 + 16 + 16

// ShareModes is the record of all opens of one file.
type ShareModes struct {
	// DeletePending is set when the file is to be deleted on last close.
	DeletePending bool
	// Name is the share-relative path the file had when opened last; a
	// rename updates it.
	Name    string
	Entries []ShareEntry
}

func (s *ShareModes) encode() []byte {
	b := []byte{recordVersion, 0}
	if s.DeletePending {
		b[1] = 1
	}
	b = binary.LittleEndian.AppendUint16(b, uint16(len(s.Name)))
	b = append(b, s.Name...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.Entries)))
	for _, e := range s.Entries {
		b = appendOpenRef(b, e.Open)
		b = binary.LittleEndian.AppendUint32(b, e.Access)
		b = binary.LittleEndian.AppendUint32(b, e.ShareAccess)
		b = binary.LittleEndian.AppendUint32(b, e.Flags)
		b = append(b, e.OplockLevel, e.BreakTo)
		b = append(b, e.LeaseKey[:]...)
		b = append(b, e.ClientGUID[:]...)
	}
	return b
}

func decodeShareModes(b []byte) (*ShareModes, error) {
	s := &ShareModes{}
	if b == nil {
		return s, nil
	}
	if len(b) < 4 || b[0] != recordVersion {
		return nil, ErrCorrupt
	}
	s.DeletePending = b[1] != 0
	nl := int(binary.LittleEndian.Uint16(b[2:]))
	b = b[4:]
	if len(b) < nl+4 {
		return nil, ErrCorrupt
	}
	s.Name = string(b[:nl])
	b = b[nl:]
	n := int(binary.LittleEndian.Uint32(b))
	b = b[4:]
	if n > len(b)/shareEntrySize || len(b) != n*shareEntrySize {
		return nil, ErrCorrupt
	}
	s.Entries = make([]ShareEntry, n)
	for i := range s.Entries {
		e := &s.Entries[i]
		e.Open = getOpenRef(b)
		o := openRefSize
		e.Access = binary.LittleEndian.Uint32(b[o:])
		e.ShareAccess = binary.LittleEndian.Uint32(b[o+4:])
		e.Flags = binary.LittleEndian.Uint32(b[o+8:])
		e.OplockLevel = b[o+12]
		e.BreakTo = b[o+13]
		copy(e.LeaseKey[:], b[o+14:])
		copy(e.ClientGUID[:], b[o+30:])
		b = b[shareEntrySize:]
	}
	return s, nil
}

// Session is the cluster-visible record of an SMB session.
type Session struct {
	ID         uint64
	ClientGUID [16]byte
	Node       uint32
	Dialect    uint16
	User       string
}

func (s *Session) encode() []byte {
	b := []byte{recordVersion}
	b = binary.LittleEndian.AppendUint64(b, s.ID)
	b = append(b, s.ClientGUID[:]...)
	b = binary.LittleEndian.AppendUint32(b, s.Node)
	b = binary.LittleEndian.AppendUint16(b, s.Dialect)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(s.User)))
	return append(b, s.User...)
}

func decodeSession(b []byte) (*Session, error) {
	if len(b) < 1+8+16+4+2+2 || b[0] != recordVersion {
		return nil, ErrCorrupt
	}
	s := &Session{ID: binary.LittleEndian.Uint64(b[1:])}
	copy(s.ClientGUID[:], b[9:25])
	s.Node = binary.LittleEndian.Uint32(b[25:])
	s.Dialect = binary.LittleEndian.Uint16(b[29:])
	n := int(binary.LittleEndian.Uint16(b[31:]))
	if len(b) != 33+n {
		return nil, ErrCorrupt
	}
	s.User = string(b[33:])
	return s, nil
}

// SessionKey is the database key of a session record.
func SessionKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

// modify runs the fetch-lock, modify, store cycle on a typed record. fn
// returns an error to abort without a change. When keep is false after
// fn, the record is deleted.
func modify[T any](ctx context.Context, db DB, key []byte, dec func([]byte) (*T, error),
	enc func(*T) []byte, empty func(*T) bool, fn func(*T) error) error {
	rec, err := db.FetchLock(ctx, key)
	if err != nil {
		return err
	}
	v, err := dec(rec.Data())
	if err != nil {
		rec.Unlock()
		return fmt.Errorf("decode %x: %w", key, err)
	}
	if err := fn(v); err != nil {
		rec.Unlock()
		return err
	}
	if empty(v) {
		if rec.Data() == nil {
			rec.Unlock()
			return nil
		}
		return rec.Delete(ctx)
	}
	return rec.Store(ctx, enc(v))
}

// ErrWait is returned by a ModifyShareModesOrWatch callback that changed
// the record (for example marked oplock breaks) and must wait for the
// next change before it can proceed.
var ErrWait = errors.New("state: wait for a record change")

// ModifyShareModesOrWatch is ModifyShareModes for opens that may have to
// wait: when fn returns ErrWait the record is stored as fn left it and a
// watch for its next change is returned.
func (s *Store) ModifyShareModesOrWatch(ctx context.Context, key FileKey, fn func(*ShareModes) error) (<-chan struct{}, func(), error) {
	rec, err := s.ShareModes.FetchLock(ctx, key.Bytes())
	if err != nil {
		return nil, nil, err
	}
	m, err := decodeShareModes(rec.Data())
	if err != nil {
		rec.Unlock()
		return nil, nil, fmt.Errorf("decode %x: %w", key.Bytes(), err)
	}
	ferr := fn(m)
	switch {
	case errors.Is(ferr, ErrWait):
		ch, cancel := rec.Watch()
		var serr error
		if len(m.Entries) == 0 {
			serr = rec.Delete(ctx)
		} else {
			serr = rec.Store(ctx, m.encode())
		}
		if serr != nil {
			cancel()
			return nil, nil, serr
		}
		return ch, cancel, ferr
	case ferr != nil:
		rec.Unlock()
		return nil, nil, ferr
	case len(m.Entries) == 0:
		if rec.Data() == nil {
			rec.Unlock()
			return nil, nil, nil
		}
		return nil, nil, rec.Delete(ctx)
	}
	return nil, nil, rec.Store(ctx, m.encode())
}

// ModifyShareModes runs fn on the share-mode record of key under its lock.
func (s *Store) ModifyShareModes(ctx context.Context, key FileKey, fn func(*ShareModes) error) error {
	return modify(ctx, s.ShareModes, key.Bytes(), decodeShareModes, (*ShareModes).encode,
		func(m *ShareModes) bool { return len(m.Entries) == 0 }, fn)
}

// PutSession stores a session record.
func (s *Store) PutSession(ctx context.Context, sess Session) error {
	rec, err := s.Sessions.FetchLock(ctx, SessionKey(sess.ID))
	if err != nil {
		return err
	}
	return rec.Store(ctx, sess.encode())
}

// GetSession reads a session record; nil if there is none.
func (s *Store) GetSession(ctx context.Context, id uint64) (*Session, error) {
	rec, err := s.Sessions.FetchLock(ctx, SessionKey(id))
	if err != nil {
		return nil, err
	}
	defer rec.Unlock()
	if rec.Data() == nil {
		return nil, nil
	}
	return decodeSession(rec.Data())
}

// DeleteSession removes a session record.
func (s *Store) DeleteSession(ctx context.Context, id uint64) error {
	rec, err := s.Sessions.FetchLock(ctx, SessionKey(id))
	if err != nil {
		return err
	}
	if rec.Data() == nil {
		rec.Unlock()
		return nil
	}
	return rec.Delete(ctx)
}

// ReadShareModes returns a snapshot of the share-mode record of key.
func (s *Store) ReadShareModes(ctx context.Context, key FileKey) (*ShareModes, error) {
	rec, err := s.ShareModes.FetchLock(ctx, key.Bytes())
	if err != nil {
		return nil, err
	}
	defer rec.Unlock()
	return decodeShareModes(rec.Data())
}
