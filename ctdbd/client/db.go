package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"gctdb/transportd/proto"
)

// Clustered databases.
//
// A DB is a database attached through a connection. Its records are
// locked with FetchLock, which answers in one round trip with the record
// and a lock the node holds for this connection until the Record is
// stored, deleted or unlocked, or the connection closes:
//
//	db, err := c.Attach(ctx, "locking.tdb", client.Volatile)
//	rec, err := db.FetchLock(ctx, key)
//	... rec.Data, rec.Exists() ...
//	err = rec.Store(ctx, newData) // or rec.Delete(ctx), rec.Unlock()
//
// Persistent and replicated databases are changed in transactions
// (Transaction); every node holds all their records, read with Fetch.
//
// All methods are safe for concurrent use. A record lock is not a mutex
// of this process: two goroutines locking the same key queue in the
// daemon, in arrival order, and none of the requests is lost. Never wait
// for another cluster call while holding a record lock.

// DBType is the type of a database, chosen when it is first attached.
type DBType uint32

// Database types.
const (
	// Volatile: records migrate to the node that locks them; wiped
	// when the daemon starts.
	Volatile DBType = 0
	// Persistent: a full copy on every node, on disk, changed by
	// transactions.
	Persistent = DBType(proto.DBFlagPersistent)
	// Replicated: like Persistent, but not kept across restarts.
	Replicated = DBType(proto.DBFlagReplicated)
	// PerRecordPersistent: volatile, except for records stored with
	// StoreDurable, which are on disk on every active node before the
	// store returns and survive node loss.
	PerRecordPersistent = DBType(proto.DBFlagPerRecordPersistent)
)

func (t DBType) String() string { return proto.DBTypeName(uint32(t)) }

// Database errors.
var (
	// ErrUnlocked is returned by operations on a Record whose lock was
	// already given up.
	ErrUnlocked = errors.New("client: record lock already released")
	// ErrNotTransactional is returned for a transaction on a volatile
	// database.
	ErrNotTransactional = errors.New("client: transactions need a persistent or replicated database")
)

// DB is an attached database.
type DB struct {
	c    *Client
	info proto.DBInfo
	// pnn is the node whose database service the handle talks to: Local
	// unless On chose another for reading.
	pnn uint32
}

// Attach attaches the database called name on every node (creating it
// with type typ if needed) and returns it. Attaching a name that exists
// with another type fails with a *proto.StatusError of status
// proto.StatusConflict.
func (c *Client) Attach(ctx context.Context, name string, typ DBType) (*DB, error) {
	var info proto.DBInfo
	if err := c.dbControl(ctx, Local, proto.OpDBAttach, &proto.DBAttach{Name: name, Flags: uint32(typ)}, &info); err != nil {
		return nil, fmt.Errorf("attach %s: %w", name, err)
	}
	return &DB{c: c, info: info, pnn: Local}, nil
}

// OpenDB returns a handle of a database already attached, without
// attaching it (tools that name databases by id).
func (c *Client) OpenDB(info proto.DBInfo) *DB { return &DB{c: c, info: info, pnn: Local} }

// ErrRemoteLock is returned for record locks and transactions through a
// handle of another node (On): a lock must belong to a client of the node
// that holds it, so that it is released when the client goes away.
var ErrRemoteLock = errors.New("client: record locks and transactions go through the connected node")

// On returns a handle that sends its requests to node pnn instead of the
// connected node: reads (Fetch, FetchReadonly, Traverse) and
// administration from that node's point of view. Record locks and
// transactions through it fail with ErrRemoteLock.
func (db *DB) On(pnn uint32) *DB {
	d := *db
	d.pnn = pnn
	return &d
}

func (db *DB) local() error {
	if db.pnn != Local && db.pnn != db.c.PNN() {
		return fmt.Errorf("%s on node %d: %w", db.info.Name, db.pnn, ErrRemoteLock)
	}
	return nil
}

// ID returns the database id (CTDB's: the hash of the name).
func (db *DB) ID() uint32 { return db.info.DBID }

// Name returns the database name.
func (db *DB) Name() string { return db.info.Name }

// Info returns the database's description as of attach.
func (db *DB) Info() proto.DBInfo { return db.info }

// Type returns the database type.
func (db *DB) Type() DBType { return DBType(db.info.Flags & proto.DBTypeFlags) }

func (c *Client) dbControl(ctx context.Context, pnn uint32, op proto.Opcode, req, resp proto.Payload) error {
	return c.Control(ctx, pnn, proto.ServiceDatabase, op, req, resp)
}

func (db *DB) control(ctx context.Context, op proto.Opcode, req, resp proto.Payload) error {
	if err := db.c.dbControl(ctx, db.pnn, op, req, resp); err != nil {
		return fmt.Errorf("%s: %w", db.info.Name, err)
	}
	return nil
}

// timeoutMillis passes ctx's deadline to the daemon, which stops waiting
// for a lock then; 0 means none.
func timeoutMillis(ctx context.Context) uint32 {
	d, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	ms := time.Until(d).Milliseconds()
	switch {
	case ms < 1:
		return 1
	case ms > 1<<31:
		return 1 << 31
	}
	return uint32(ms)
}

// Record is a locked record of a volatile database. Header and Data are
// the record as it was when the lock was granted; the lock is held until
// Store, Delete or Unlock, or until the connection closes.
type Record struct {
	db     *DB
	token  uint64
	Key    []byte
	Header proto.RecordHeader
	Data   []byte
	done   atomic.Bool
}

// Exists reports whether the record holds a value (it was stored and not
// deleted). A value may be empty.
func (r *Record) Exists() bool { return r.Header.Flags&proto.RecFlagDeleted == 0 }

// FetchLock locks the record of key for this connection and returns it.
// The node migrates the record to itself first when another node holds
// it. It waits while other clients hold the lock, in arrival order, until
// ctx ends; a cancelled FetchLock never leaves a lock behind.
func (db *DB) FetchLock(ctx context.Context, key []byte) (*Record, error) {
	return db.fetchLock(ctx, key, 0)
}

// LockLocal locks the node's local copy of key without migrating it (a
// test and diagnosis tool: the record cannot be written through it).
func (db *DB) LockLocal(ctx context.Context, key []byte) (*Record, error) {
	return db.fetchLock(ctx, key, proto.LockNoMigrate)
}

func (db *DB) fetchLock(ctx context.Context, key []byte, flags uint32) (*Record, error) {
	if err := db.local(); err != nil {
		return nil, err
	}
	for {
		req := proto.FetchLock{DBID: db.info.DBID, Token: rand.Uint64(), Flags: flags, Timeout: timeoutMillis(ctx), Key: key}
		var rec proto.Record
		err := db.c.dbControl(ctx, Local, proto.OpFetchLock, &req, &rec)
		if proto.StatusOf(err) == proto.StatusExists {
			continue // token collision: pick another
		}
		if err != nil {
			if ctx.Err() != nil {
				// The daemon may still grant it: withdraw the request.
				db.send(&proto.Unlock{DBID: db.info.DBID, Token: req.Token, Op: proto.UnlockOnly})
			}
			return nil, fmt.Errorf("fetch-lock %x in %s: %w", key, db.info.Name, err)
		}
		return &Record{db: db, token: req.Token, Key: key, Header: rec.Header, Data: rec.Data}, nil
	}
}

func (db *DB) send(u *proto.Unlock) error {
	return db.c.Send(proto.Endpoint{PNN: Local, Service: proto.ServiceDatabase}, proto.OpUnlock, u)
}

// finish ends the lock with op; durable records (and StoreDurable) wait
// for the daemon, everything else is sent without waiting.
func (r *Record) finish(ctx context.Context, op uint8, flags uint32, data []byte) error {
	if !r.done.CompareAndSwap(false, true) {
		return ErrUnlocked
	}
	u := &proto.Unlock{DBID: r.db.info.DBID, Token: r.token, Op: op, Flags: flags, Data: data}
	if op != proto.UnlockOnly && (flags|r.Header.Flags)&proto.RecFlagDurable != 0 {
		return r.db.control(ctx, proto.OpUnlock, u, nil)
	}
	return r.db.send(u)
}

// Store writes data as the record's value and releases the lock. It
// does not wait for the daemon, except for a durable record of a
// per-record-persistent database: then it returns once every active node
// has the new value on disk (and the record is no longer durable).
func (r *Record) Store(ctx context.Context, data []byte) error {
	if data == nil {
		data = []byte{}
	}
	return r.finish(ctx, proto.UnlockStore, 0, data)
}

// StoreDurable writes data as the value of a record of a
// per-record-persistent database, makes it durable and releases the
// lock; it returns once every active node has it on disk.
func (r *Record) StoreDurable(ctx context.Context, data []byte) error {
	if r.db.Type() != PerRecordPersistent {
		return fmt.Errorf("%s: durable stores need a per-record-persistent database", r.db.info.Name)
	}
	if data == nil {
		data = []byte{}
	}
	return r.finish(ctx, proto.UnlockStore, proto.RecFlagDurable, data)
}

// Delete deletes the record and releases the lock, without waiting
// (except for a durable record, as Store).
func (r *Record) Delete(ctx context.Context) error {
	return r.finish(ctx, proto.UnlockDelete, 0, nil)
}

// Unlock releases the lock without changing the record.
func (r *Record) Unlock() error { return r.finish(context.Background(), proto.UnlockOnly, 0, nil) }

// Value is a record read without a lock.
type Value struct {
	Header proto.RecordHeader
	Data   []byte
}

// Exists reports whether the record holds a value.
func (v Value) Exists() bool { return v.Header.Flags&proto.RecFlagDeleted == 0 }

// FetchReadonly reads a record of a volatile database without keeping a
// lock. In a database with read-only records enabled (SetReadonly) the
// node serves it from a read-only copy it keeps until the record is
// written, so hot records are read everywhere without migrating; in other
// databases it is a fetch-lock released at once.
func (db *DB) FetchReadonly(ctx context.Context, key []byte) (Value, error) {
	var rec proto.Record
	err := db.control(ctx, proto.OpFetch, &proto.Fetch{DBID: db.info.DBID, Flags: proto.FetchReadonly, Timeout: timeoutMillis(ctx), Key: key}, &rec)
	return Value{Header: rec.Header, Data: rec.Data}, err
}

// Fetch reads the node's local copy of key as it is stored: in a
// persistent or replicated database the current value; in a volatile one
// whatever copy the node has, which is current only where it is the
// record's data master. found is false when the node has no copy.
func (db *DB) Fetch(ctx context.Context, key []byte) (v Value, found bool, err error) {
	req := &proto.Fetch{DBID: db.info.DBID, Flags: proto.FetchLocalCopy, Key: key}
	rep, err := db.c.Call(ctx, proto.Endpoint{PNN: db.pnn, Service: proto.ServiceDatabase}, proto.OpFetch, req)
	if err == nil {
		err = rep.Err(proto.OpFetch)
	}
	if err != nil {
		return Value{}, false, fmt.Errorf("%s: %w", db.info.Name, err)
	}
	if rep.Status == proto.FetchNoCopy {
		return Value{}, false, nil
	}
	var rec proto.Record
	if err := proto.Unmarshal(rep.Body, &rec); err != nil {
		return Value{}, false, fmt.Errorf("%s: fetch reply: %w", db.info.Name, err)
	}
	return Value{Header: rec.Header, Data: rec.Data}, true, nil
}

// Store is FetchLock followed by Record.Store.
func (db *DB) Store(ctx context.Context, key, data []byte) error {
	rec, err := db.FetchLock(ctx, key)
	if err != nil {
		return err
	}
	return rec.Store(ctx, data)
}

// Delete is FetchLock followed by Record.Delete.
func (db *DB) Delete(ctx context.Context, key []byte) error {
	rec, err := db.FetchLock(ctx, key)
	if err != nil {
		return err
	}
	return rec.Delete(ctx)
}

// UpdateRecord stores a record with the header given on the node the
// client is connected to if its RSN is higher than the stored copy's
// (CTDB's UPDATE_RECORD, for tests and tools).
func (db *DB) UpdateRecord(ctx context.Context, key []byte, h proto.RecordHeader, data []byte) error {
	return db.control(ctx, proto.OpUpdateRecord, &proto.UpdateRecord{DBID: db.info.DBID, Record: proto.Record{Key: key, Header: h, Data: data}}, nil)
}
