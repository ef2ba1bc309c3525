package client

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"gctdb/transportd/proto"
)

// Tx is a transaction on a persistent or replicated database. Reads see
// the transaction's own writes; the writes reach the database only when
// the transaction commits. A Tx is used by one goroutine.
type Tx struct {
	db     *DB
	order  []string
	writes map[string]proto.Record
}

// Transaction runs fn in a transaction and commits what it wrote. It
// first takes the database's cluster-wide transaction lock (waiting for
// other transactions in arrival order, until ctx ends), so fn reads the
// latest committed state; the commit applies the writes on every active
// node or on none. It returns the database's new sequence number. When
// fn returns an error nothing is written and that error is returned.
//
// A transaction the cluster refuses because it is recovering (status
// busy: nothing of it was applied anywhere) is run again, fn included,
// after a short pause, until ctx ends, as CTDB's client library does.
func (db *DB) Transaction(ctx context.Context, fn func(tx *Tx) error) (seqnum uint64, err error) {
	if db.Type() != Persistent && db.Type() != Replicated {
		return 0, fmt.Errorf("%s: %w", db.info.Name, ErrNotTransactional)
	}
	if err := db.local(); err != nil {
		return 0, err
	}
	for pause := 5 * time.Millisecond; ; pause = min(2*pause, 200*time.Millisecond) {
		seqnum, err = db.transaction(ctx, fn)
		if proto.StatusOf(err) != proto.StatusBusy {
			return seqnum, err
		}
		select {
		case <-ctx.Done():
			return 0, err
		case <-time.After(pause):
		}
	}
}

// transaction is one attempt of Transaction.
func (db *DB) transaction(ctx context.Context, fn func(tx *Tx) error) (seqnum uint64, err error) {
	start := proto.TransStart{DBID: db.info.DBID, Timeout: timeoutMillis(ctx)}
	for {
		start.Token = rand.Uint64()
		err = db.control(ctx, proto.OpTransStart, &start, nil)
		if proto.StatusOf(err) != proto.StatusExists {
			break
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			db.c.Send(proto.Endpoint{PNN: Local, Service: proto.ServiceDatabase}, proto.OpTransCancel, &start)
		}
		return 0, fmt.Errorf("start transaction: %w", err)
	}
	tx := &Tx{db: db, writes: make(map[string]proto.Record)}
	if err := fn(tx); err != nil {
		db.c.Send(proto.Endpoint{PNN: Local, Service: proto.ServiceDatabase}, proto.OpTransCancel, &start)
		return 0, err
	}
	commit := proto.TransCommit{DBID: db.info.DBID, Token: start.Token, Writes: make([]proto.Record, 0, len(tx.order))}
	for _, k := range tx.order {
		commit.Writes = append(commit.Writes, tx.writes[k])
	}
	var seq proto.U64
	if err := db.control(ctx, proto.OpTransCommit, &commit, &seq); err != nil {
		return 0, err
	}
	return seq.V, nil
}

// Fetch returns the value of key as the transaction sees it; found is
// false for a missing (or deleted) record.
func (tx *Tx) Fetch(ctx context.Context, key []byte) (data []byte, found bool, err error) {
	if w, ok := tx.writes[string(key)]; ok {
		return w.Data, w.Header.Flags&proto.RecFlagDeleted == 0, nil
	}
	v, found, err := tx.db.Fetch(ctx, key)
	if err != nil || !found {
		return nil, false, err
	}
	return v.Data, true, nil
}

func (tx *Tx) put(key, data []byte, flags uint32) {
	k := string(key)
	if _, ok := tx.writes[k]; !ok {
		tx.order = append(tx.order, k)
	}
	tx.writes[k] = proto.Record{Key: []byte(k), Header: proto.RecordHeader{Flags: flags}, Data: data}
}

// Store sets key to data when the transaction commits.
func (tx *Tx) Store(key, data []byte) {
	if data == nil {
		data = []byte{}
	}
	tx.put(key, append([]byte(nil), data...), 0)
}

// Delete deletes key when the transaction commits.
func (tx *Tx) Delete(key []byte) { tx.put(key, []byte{}, proto.RecFlagDeleted) }
