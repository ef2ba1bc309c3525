// Package userdb keeps smbd's users — names, NT hashes and whether they
// are disabled — in a persistent gctdb database, so that every node
// authenticates the same users. smbd reads it (auth.UserDB); smbpasswd
// changes it in transactions.
package userdb

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"gctdb/ctdbd/client"
	"gctdb/smbd/internal/auth"
)

// DBName is the persistent database of users (Samba's passdb name).
const DBName = "passdb.tdb"

// Errors.
var (
	// ErrCorrupt: a record does not decode.
	ErrCorrupt = errors.New("userdb: corrupt record")
)

const (
	recordVersion = 1
	flagDisabled  = 1 << 0
	maxName       = 256
	keyPrefix     = "USER/"
)

// DB is the user database.
type DB struct{ db *client.DB }

// Open attaches the user database through c.
func Open(ctx context.Context, c *client.Client) (*DB, error) {
	db, err := c.Attach(ctx, DBName, client.Persistent)
	if err != nil {
		return nil, err
	}
	return &DB{db: db}, nil
}

// Key is the database key of a user: names are case-insensitive.
func Key(name string) []byte { return []byte(keyPrefix + strings.ToLower(name)) }

// Encode is a user's record: version u8, flags u8, NT hash [16], name
// length u16 (little-endian), name as given when it was added.
func Encode(u auth.User) []byte {
	b := make([]byte, 0, 2+16+2+len(u.Name))
	flags := byte(0)
	if u.Disabled {
		flags |= flagDisabled
	}
	b = append(b, recordVersion, flags)
	b = append(b, u.NTHash[:]...)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(u.Name)))
	return append(b, u.Name...)
}

// Decode parses a user's record.
func Decode(b []byte) (auth.User, error) {
	var u auth.User
	if len(b) < 20 || b[0] != recordVersion || b[1]&^flagDisabled != 0 {
		return u, ErrCorrupt
	}
	u.Disabled = b[1]&flagDisabled != 0
	copy(u.NTHash[:], b[2:18])
	n := int(binary.LittleEndian.Uint16(b[18:]))
	if n == 0 || n > maxName || len(b) != 20+n {
		return u, ErrCorrupt
	}
	u.Name = string(b[20:])
	return u, nil
}

// ValidName reports whether name can be a user name.
func ValidName(name string) error {
	if name == "" || len(name) > maxName || strings.ContainsAny(name, "\x00\\/@:") {
		return fmt.Errorf("userdb: invalid user name %q", name)
	}
	return nil
}

// LookupUser implements auth.UserDB from the node's copy of the database.
func (d *DB) LookupUser(ctx context.Context, name string) (auth.User, error) {
	v, found, err := d.db.Fetch(ctx, Key(name))
	if err != nil {
		return auth.User{}, err
	}
	if !found || !v.Exists() {
		return auth.User{}, fmt.Errorf("%w: %q", auth.ErrNoSuchUser, name)
	}
	return Decode(v.Data)
}

// Change runs fn on the user called name (nil when there is none) in a
// transaction and stores what fn returns: a user to store, or nil to
// delete. An error from fn aborts without a change.
func (d *DB) Change(ctx context.Context, name string, fn func(u *auth.User) (*auth.User, error)) error {
	if err := ValidName(name); err != nil {
		return err
	}
	key := Key(name)
	_, err := d.db.Transaction(ctx, func(tx *client.Tx) error {
		data, found, err := tx.Fetch(ctx, key)
		if err != nil {
			return err
		}
		var cur *auth.User
		if found {
			u, err := Decode(data)
			if err != nil {
				return fmt.Errorf("user %s: %w", name, err)
			}
			cur = &u
		}
		next, err := fn(cur)
		if err != nil {
			return err
		}
		switch {
		case next != nil:
			tx.Store(key, Encode(*next))
		case found:
			tx.Delete(key)
		}
		return nil
	})
	return err
}
