package tdb

import "errors"

var (
	// ErrNotFound is returned when a key has no record.
	ErrNotFound = errors.New("tdb: record not found")
	// ErrClosed is returned by operations on a closed database.
	ErrClosed = errors.New("tdb: database closed")
	// ErrBroken is returned by every write after a write to the database
	// file failed. The file may no longer match what readers were shown;
	// the database must be closed and opened again (volatile ones wiped).
	ErrBroken = errors.New("tdb: database broken by an earlier write error")
	// ErrKeyTooLarge is returned for keys longer than MaxKeySize.
	ErrKeyTooLarge = errors.New("tdb: key too large")
	// ErrValueTooLarge is returned for data longer than MaxDataSize.
	ErrValueTooLarge = errors.New("tdb: value too large")
	// ErrShortValue is returned when decoding fewer bytes than a header.
	ErrShortValue = errors.New("tdb: value shorter than record header")
	// ErrCorrupt is returned when a stored value cannot be decoded.
	ErrCorrupt = errors.New("tdb: corrupt record")
	// ErrFormat is returned when a file is not a database of this format.
	ErrFormat = errors.New("tdb: unknown file format")
	// ErrTxDone is returned by a Tx used after its Update function returned.
	ErrTxDone = errors.New("tdb: transaction already finished")
	// ErrFrozen is returned by LockUnlessFrozen when the database is or
	// becomes frozen.
	ErrFrozen = errors.New("tdb: database frozen")
	// ErrNotFrozen is returned by Thaw when the database is not frozen.
	ErrNotFrozen = errors.New("tdb: database not frozen")
	// ErrStopTraverse may be returned by a Traverse or Records callback to
	// end the traversal early without error.
	ErrStopTraverse = errors.New("tdb: stop traverse")
)
