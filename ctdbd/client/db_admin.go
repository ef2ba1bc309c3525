package client

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"gctdb/transportd/proto"
)

// Database administration: the calls behind ctdb getdbmap, getdbstatus,
// detach, wipedb, setdbreadonly, backupdb and friends. Each asks node pnn
// (Local for the connected node); changes apply cluster-wide.

// DBMap returns the databases attached on node pnn, newest first.
func (c *Client) DBMap(ctx context.Context, pnn uint32) ([]proto.DBInfo, error) {
	var m proto.DBMap
	if err := c.dbControl(ctx, pnn, proto.OpGetDBMap, nil, &m); err != nil {
		return nil, err
	}
	return m.DBs, nil
}

// FindDB finds a database attached on node pnn by name or by id written
// as 0x-prefixed hex, as ctdb's <dbname|dbid> arguments; found is false
// when there is none.
func (c *Client) FindDB(ctx context.Context, pnn uint32, nameOrID string) (info proto.DBInfo, found bool, err error) {
	dbs, err := c.DBMap(ctx, pnn)
	if err != nil {
		return proto.DBInfo{}, false, err
	}
	var id uint64
	byID := strings.HasPrefix(nameOrID, "0x")
	if byID {
		if id, err = strconv.ParseUint(nameOrID[2:], 16, 32); err != nil {
			return proto.DBInfo{}, false, nil
		}
	}
	for _, d := range dbs {
		if byID && uint64(d.DBID) == id || !byID && d.Name == nameOrID {
			return d, true, nil
		}
	}
	return proto.DBInfo{}, false, nil
}

// DBInfo describes one database of node pnn.
func (c *Client) DBInfo(ctx context.Context, pnn, dbid uint32) (*proto.DBInfo, error) {
	var info proto.DBInfo
	if err := c.dbControl(ctx, pnn, proto.OpGetDBInfo, &proto.DBControl{DBID: dbid}, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// Detach detaches a volatile database from every node; its records are
// gone.
func (c *Client) Detach(ctx context.Context, pnn, dbid uint32) error {
	return c.dbControl(ctx, pnn, proto.OpDBDetach, &proto.DBControl{DBID: dbid}, nil)
}

// DBStatistics returns one database's statistics on node pnn.
func (c *Client) DBStatistics(ctx context.Context, pnn, dbid uint32) (*proto.DBStatistics, error) {
	var st proto.DBStatistics
	if err := c.dbControl(ctx, pnn, proto.OpDBStatistics, &proto.DBControl{DBID: dbid}, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// DBSeqnum returns a database's sequence number on node pnn (0 for a
// volatile database).
func (c *Client) DBSeqnum(ctx context.Context, pnn, dbid uint32) (uint64, error) {
	var v proto.U64
	if err := c.dbControl(ctx, pnn, proto.OpGetDBSeqnum, &proto.DBControl{DBID: dbid}, &v); err != nil {
		return 0, err
	}
	return v.V, nil
}

// SetDBFlags enables read-only records (proto.DBFlagReadonly) or sticky
// records (proto.DBFlagSticky) of a volatile database on every node.
func (c *Client) SetDBFlags(ctx context.Context, pnn, dbid, flags uint32) error {
	return c.dbControl(ctx, pnn, proto.OpSetDBFlags, &proto.DBControl{DBID: dbid, Flags: flags}, nil)
}

// WipeDB deletes every record of a database on every node.
func (c *Client) WipeDB(ctx context.Context, pnn, dbid uint32) error {
	return c.dbControl(ctx, pnn, proto.OpWipeDB, &proto.DBControl{DBID: dbid}, nil)
}

// VNNMap returns node pnn's vnnmap and generation.
func (c *Client) VNNMap(ctx context.Context, pnn uint32) (*proto.VNNMap, error) {
	var v proto.VNNMap
	if err := c.dbControl(ctx, pnn, proto.OpGetVNNMap, nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// RecoveryMode returns node pnn's recovery mode (proto.RecModeNormal or
// proto.RecModeActive).
func (c *Client) RecoveryMode(ctx context.Context, pnn uint32) (uint32, error) {
	var v proto.U32
	if err := c.dbControl(ctx, pnn, proto.OpGetRecMode, nil, &v); err != nil {
		return 0, err
	}
	return v.V, nil
}

// ProcessExists reports whether a client process with pid is connected
// to node pnn and, when srvid is not 0, has registered srvid.
func (c *Client) ProcessExists(ctx context.Context, pnn, pid uint32, srvid uint64) (bool, error) {
	st, _, err := c.ControlStatus(ctx, pnn, proto.ServiceTransport, proto.OpProcessExists, &proto.ProcessExists{PID: pid, SrvID: srvid})
	if err != nil {
		return false, err
	}
	return st == proto.StatusOK, nil
}

// restoreBatchBytes bounds the records of one restore message.
const restoreBatchBytes = 4 << 20

// Restore replaces the database's records on every node with recs, as
// ctdb restoredb does: the database is quiet everywhere (frozen, or under
// its transaction lock) from the first batch to the last. progress, if
// not nil, is told how many records are done after each batch.
func (db *DB) Restore(ctx context.Context, recs []proto.Record, progress func(done int)) error {
	flags := proto.PushWipe
	for start := 0; ; {
		end, size := start, 0
		for end < len(recs) && (end == start || size+len(recs[end].Key)+len(recs[end].Data) <= restoreBatchBytes) {
			size += len(recs[end].Key) + len(recs[end].Data)
			end++
		}
		if end == len(recs) {
			flags |= proto.PushLast
		}
		p := proto.PushRecords{DBID: db.info.DBID, Flags: flags, Records: recs[start:end]}
		if err := db.control(ctx, proto.OpPushRecords, &p, nil); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		if progress != nil {
			progress(end)
		}
		if end == len(recs) {
			return nil
		}
		start, flags = end, 0
	}
}
