package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"

	"gctdb/ctdbd/client"
	"gctdb/tdb"
	"gctdb/transportd/proto"
)

// Commands on persistent and replicated databases, and on a database
// file directly.
func persistentCommands() []*command {
	return []*command{
		{name: "pfetch", args: "<dbname|dbid> <key>", help: "fetch record from persistent database", minArgs: 2, maxArgs: 2,
			check: func(args []string) error { return checkData(args[1:2]) }, run: runPfetch},
		{name: "pstore", args: "<dbname|dbid> <key> <value>", help: "write record to persistent database", minArgs: 3, maxArgs: 3,
			check: func(args []string) error { return checkData(args[1:3]) }, run: runPstore},
		{name: "pdelete", args: "<dbname|dbid> <key>", help: "delete record from persistent database", minArgs: 2, maxArgs: 2,
			check: func(args []string) error { return checkData(args[1:2]) }, run: runPdelete},
		{name: "ptrans", args: "<dbname|dbid> [<file>]", help: "update a persistent database (from file or stdin)",
			minArgs: 1, maxArgs: 2, localOnly: true, run: runPtrans},
		{name: "tfetch", args: "<tdb-file> <key> [<file>]", help: "fetch a record", minArgs: 2, maxArgs: 3,
			daemonless: true, check: func(args []string) error { return checkData(args[1:2]) }, run: runTfetch},
		{name: "tstore", args: "<tdb-file> <key> <data> [<rsn> <dmaster> <flags>]", help: "store a record",
			minArgs: 3, maxArgs: 6, daemonless: true, check: checkTstore, run: runTstore},
	}
}

// persistentDB opens a persistent or replicated database on the node the
// tool is connected to, where transactions run.
func persistentDB(ctx context.Context, r *request) (*client.DB, error) {
	db, err := openDB(ctx, r, r.args[0])
	if err != nil {
		return nil, err
	}
	if !transactional(db.Info().Flags) {
		return nil, failf("Transactions not supported on DB %s", db.Name())
	}
	return db, nil
}

// pfetchView prints a value as CTDB's pfetch does: the bytes and a
// newline.
type pfetchView struct {
	Found      bool   `json:"found"`
	DataBase64 string `json:"data_base64"`
	data       []byte
}

func (v *pfetchView) writeText(w io.Writer) {
	w.Write(v.data)
	fmt.Fprintln(w)
}

func runPfetch(ctx context.Context, r *request) (view, error) {
	db, err := persistentDB(ctx, r)
	if err != nil {
		return nil, err
	}
	key, _ := parseData(r.args[1])
	v, found, err := db.Fetch(ctx, key)
	if err != nil {
		return nil, &nodeError{pnn: r.pnn, err: fmt.Errorf("Failed to read record for key %s: %w", r.args[1], err)}
	}
	return &pfetchView{Found: found, DataBase64: base64.StdEncoding.EncodeToString(v.Data), data: v.Data}, nil
}

// transact runs one transaction on the connected node, with CTDB's
// messages for failures.
func transact(ctx context.Context, r *request, fn func(tx *client.Tx) error) error {
	db, err := persistentDB(ctx, r)
	if err != nil {
		return err
	}
	if r.pnn != r.self {
		db = r.c.OpenDB(db.Info())
	}
	if _, err := db.Transaction(ctx, fn); err != nil {
		r.x.log.Debug("transaction failed", "db", db.Name(), "err", err)
		return &nodeError{pnn: r.self, err: fmt.Errorf("Failed to commit transaction on db %s: %w", db.Name(), err)}
	}
	return nil
}

func runPstore(ctx context.Context, r *request) (view, error) {
	key, _ := parseData(r.args[1])
	data, _ := parseData(r.args[2])
	return nil, transact(ctx, r, func(tx *client.Tx) error {
		tx.Store(key, data)
		return nil
	})
}

func runPdelete(ctx context.Context, r *request) (view, error) {
	key, _ := parseData(r.args[1])
	return nil, transact(ctx, r, func(tx *client.Tx) error {
		tx.Delete(key)
		return nil
	})
}

// runPtrans stores the key/value pairs of a file (or standard input) in
// one transaction. Each line is `"key" "value"`, both in double quotes,
// either 0x followed by hex digits or text; lines that do not parse are
// skipped, as in CTDB.
func runPtrans(ctx context.Context, r *request) (view, error) {
	in := io.Reader(os.Stdin)
	if len(r.args) == 2 {
		f, err := os.Open(r.args[1])
		if err != nil {
			return nil, failf("Failed to open file %s", r.args[1])
		}
		defer f.Close()
		in = f
	}
	pairs, err := parsePtrans(in, r.x.stderr)
	if err != nil {
		return nil, err
	}
	return nil, transact(ctx, r, func(tx *client.Tx) error {
		for _, p := range pairs {
			tx.Store(p[0], p[1])
		}
		return nil
	})
}

// parsePtrans reads ptrans input; problems with a line are reported on
// stderr and the line skipped.
func parsePtrans(in io.Reader, stderr io.Writer) ([][2][]byte, error) {
	var pairs [][2][]byte
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		rest := sc.Bytes()
		key, rest, err := ptransString(rest)
		if err != nil || len(key) == 0 {
			if err != nil {
				fmt.Fprintln(stderr, err)
			}
			continue
		}
		value, _, err := ptransString(rest)
		if err != nil {
			fmt.Fprintln(stderr, err)
			continue
		}
		pairs = append(pairs, [2][]byte{key, value})
	}
	if err := sc.Err(); err != nil {
		return nil, failf("Failed to read input: %v", err)
	}
	return pairs, nil
}

// ptransString reads one double-quoted string after blanks.
func ptransString(line []byte) (data, rest []byte, err error) {
	t := bytes.TrimLeft(line, " \t")
	if len(t) == 0 || t[0] != '"' {
		return nil, nil, fmt.Errorf("Unsupported input format in %s", line)
	}
	end := bytes.IndexByte(t[1:], '"')
	if end < 0 {
		return nil, nil, fmt.Errorf("Unmatched \" in input %s", line)
	}
	data, err = parseData(string(t[1 : 1+end]))
	return data, t[2+end:], err
}

// openTDB opens a database file for tfetch and tstore; it must exist.
// A file a running daemon has open cannot be opened.
func openTDB(path string) (*tdb.DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, failf("Failed to open TDB file %s", path)
	}
	db, err := tdb.Open(path, tdb.Options{Persistent: true})
	if err != nil {
		return nil, failf("Failed to open TDB file %s", path)
	}
	return db, nil
}

func runTfetch(_ context.Context, r *request) (view, error) {
	db, err := openTDB(r.args[0])
	if err != nil {
		return nil, err
	}
	defer db.Close()
	key, _ := parseData(r.args[1])
	rec, err := db.Fetch(key)
	if errors.Is(err, tdb.ErrNotFound) {
		return nil, failf("No record for key %s", r.args[1])
	}
	if err != nil {
		return nil, failf("Invalid record for key %s", r.args[1])
	}
	if len(r.args) == 3 {
		if err := os.WriteFile(r.args[2], tdb.EncodeValue(rec.Header, rec.Data), 0o600); err != nil {
			fmt.Fprintf(r.x.stderr, "Failed to open output file %s\n", r.args[2])
		}
	}
	v := newRecordView(proto.Record{Key: rec.Key, Header: proto.RecordHeader{RSN: rec.Header.RSN, DMaster: rec.Header.DMaster, Flags: uint32(rec.Header.Flags)}, Data: rec.Data})
	return &tfetchView{v}, nil
}

// tfetchView is tfetch: the header and the data, without the key.
type tfetchView struct{ recordView }

func (v *tfetchView) writeText(w io.Writer) { v.writeHeaderAndData(w) }

func checkTstore(args []string) error {
	if err := checkData(args[1:3]); err != nil {
		return err
	}
	for i, a := range args[3:] {
		bits := 32
		if i == 0 {
			bits = 64
		}
		if _, err := parseCUint(a, bits); err != nil {
			return failf("Invalid number %s", a)
		}
	}
	return nil
}

func runTstore(_ context.Context, r *request) (view, error) {
	key, _ := parseData(r.args[1])
	data, _ := parseData(r.args[2])
	var h tdb.Header
	num := func(i, bits int) uint64 {
		if len(r.args) <= i {
			return 0
		}
		v, _ := parseCUint(r.args[i], bits)
		return v
	}
	h.RSN, h.DMaster, h.Flags = num(3, 64), uint32(num(4, 32)), tdb.Flags(num(5, 32))
	db, err := openTDB(r.args[0])
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := db.Store(key, h, data); err != nil {
		return nil, failf("Failed to write record %s to file %s", r.args[1], r.args[0])
	}
	return nil, nil
}
