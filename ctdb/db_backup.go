package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"gctdb/ctdbd/client"
	"gctdb/transportd/proto"
)

// Commands that save a database to a file and bring it back.
func backupCommands() []*command {
	return []*command{
		{name: "backupdb", args: "<dbname|dbid> <file>", help: "backup a database into a file", minArgs: 2, maxArgs: 2, localOnly: true, run: runBackupdb},
		{name: "restoredb", args: "<file> [dbname]", help: "restore a database from a file", minArgs: 1, maxArgs: 2, localOnly: true, run: runRestoredb},
		{name: "dumpdbbackup", args: "<file>", help: "dump database from a backup file", minArgs: 1, maxArgs: 1, daemonless: true, run: runDumpdbbackup},
	}
}

// A backup file is gctdb's own, endian-neutral format (CTDB's are C
// structures of the host that wrote them):
//
//	magic "GCTDBBAK" | version u32 | database flags u32 | time i64 (Unix seconds)
//	name (u32 length + bytes)
//	chunks: u32 record count (0 ends the chunks) + that many records
//	        (proto.Record encoding)
//	total records u64
const (
	backupMagic   = "GCTDBBAK"
	backupVersion = 1
	// backupChunk is the number of records per chunk.
	backupChunk = 1000
)

// errBadBackup marks a backup file that cannot be read.
var errBadBackup = errors.New("not a valid gctdb backup file")

// backupHeader describes the database in a backup file.
type backupHeader struct {
	Flags uint32
	Time  time.Time
	Name  string
}

// backupWriter writes a backup file.
type backupWriter struct {
	w     *bufio.Writer
	chunk []proto.Record
	total uint64
}

func newBackupWriter(w io.Writer, h backupHeader) (*backupWriter, error) {
	bw := &backupWriter{w: bufio.NewWriter(w)}
	b := append([]byte(backupMagic), proto.AppendU32(nil, backupVersion)...)
	b = proto.AppendU32(b, h.Flags)
	b = proto.AppendI64(b, h.Time.Unix())
	b = proto.AppendString(b, h.Name)
	_, err := bw.w.Write(b)
	return bw, err
}

func (bw *backupWriter) add(recs []proto.Record) error {
	for _, r := range recs {
		bw.chunk = append(bw.chunk, r)
		if len(bw.chunk) == backupChunk {
			if err := bw.flushChunk(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (bw *backupWriter) flushChunk() error {
	if len(bw.chunk) == 0 {
		return nil
	}
	b := proto.AppendU32(nil, uint32(len(bw.chunk)))
	for i := range bw.chunk {
		b = bw.chunk[i].AppendTo(b)
	}
	bw.total += uint64(len(bw.chunk))
	bw.chunk = bw.chunk[:0]
	_, err := bw.w.Write(b)
	return err
}

func (bw *backupWriter) close() error {
	if err := bw.flushChunk(); err != nil {
		return err
	}
	b := proto.AppendU32(nil, 0)
	b = proto.AppendU64(b, bw.total)
	if _, err := bw.w.Write(b); err != nil {
		return err
	}
	return bw.w.Flush()
}

// readBackup reads a whole backup file; every inconsistency is an
// errBadBackup.
func readBackup(r io.Reader) (backupHeader, []proto.Record, error) {
	var h backupHeader
	br := bufio.NewReader(r)
	head := make([]byte, len(backupMagic)+4+4+8+4)
	if _, err := io.ReadFull(br, head); err != nil {
		return h, nil, fmt.Errorf("%w: %v", errBadBackup, err)
	}
	if string(head[:len(backupMagic)]) != backupMagic {
		return h, nil, fmt.Errorf("%w: bad magic", errBadBackup)
	}
	d := proto.NewDecoder(head[len(backupMagic):], false)
	version, flags, ts, nameLen := d.U32(), d.U32(), d.I64(), d.U32()
	if version != backupVersion {
		return h, nil, fmt.Errorf("%w: version %d, expected %d", errBadBackup, version, backupVersion)
	}
	if nameLen > proto.MaxDBName {
		return h, nil, fmt.Errorf("%w: database name of %d bytes", errBadBackup, nameLen)
	}
	name := make([]byte, nameLen)
	if _, err := io.ReadFull(br, name); err != nil {
		return h, nil, fmt.Errorf("%w: %v", errBadBackup, err)
	}
	h = backupHeader{Flags: flags, Time: time.Unix(ts, 0), Name: string(name)}
	var recs []proto.Record
	for {
		var n [4]byte
		if _, err := io.ReadFull(br, n[:]); err != nil {
			return h, nil, fmt.Errorf("%w: %v", errBadBackup, err)
		}
		count := proto.NewDecoder(n[:], false).U32()
		if count == 0 {
			break
		}
		if count > backupChunk {
			return h, nil, fmt.Errorf("%w: chunk of %d records", errBadBackup, count)
		}
		for i := uint32(0); i < count; i++ {
			rec, err := readRecord(br)
			if err != nil {
				return h, nil, err
			}
			recs = append(recs, rec)
		}
	}
	var t [8]byte
	if _, err := io.ReadFull(br, t[:]); err != nil {
		return h, nil, fmt.Errorf("%w: %v", errBadBackup, err)
	}
	if total := proto.NewDecoder(t[:], false).U64(); total != uint64(len(recs)) {
		return h, nil, fmt.Errorf("%w: %d records, the file says %d", errBadBackup, len(recs), total)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return h, nil, fmt.Errorf("%w: data after the end", errBadBackup)
	}
	return h, recs, nil
}

// readRecord reads one proto.Record from a stream: key length, key,
// header, data length, data.
func readRecord(br *bufio.Reader) (proto.Record, error) {
	blob := func(max int) ([]byte, error) {
		var n [4]byte
		if _, err := io.ReadFull(br, n[:]); err != nil {
			return nil, err
		}
		size := proto.NewDecoder(n[:], false).U32()
		if uint64(size) > uint64(max) {
			return nil, fmt.Errorf("field of %d bytes", size)
		}
		b := make([]byte, size)
		_, err := io.ReadFull(br, b)
		return b, err
	}
	var rec proto.Record
	key, err := blob(proto.MaxKey)
	if err != nil {
		return rec, fmt.Errorf("%w: %v", errBadBackup, err)
	}
	var hdr [16]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return rec, fmt.Errorf("%w: %v", errBadBackup, err)
	}
	data, err := blob(proto.MaxBlob)
	if err != nil {
		return rec, fmt.Errorf("%w: %v", errBadBackup, err)
	}
	d := proto.NewDecoder(hdr[:], false)
	rec = proto.Record{Key: key, Header: proto.RecordHeader{RSN: d.U64(), DMaster: d.U32(), Flags: d.U32()}, Data: data}
	return rec, nil
}

// progress reports a long operation's progress on stderr, only when it
// is a terminal; done ends the line.
type progress struct {
	w     io.Writer
	verb  string
	total int
	shown time.Time
}

func (x *cli) newProgress(verb string, total int) *progress {
	f, ok := x.stderr.(*os.File)
	if !ok {
		return &progress{}
	}
	if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err != nil {
		return &progress{}
	}
	return &progress{w: f, verb: verb, total: total}
}

func (p *progress) update(n int) {
	if p.w == nil || time.Since(p.shown) < 100*time.Millisecond {
		return
	}
	p.shown = time.Now()
	if p.total > 0 {
		fmt.Fprintf(p.w, "\r%s %d of %d records (%d%%)", p.verb, n, p.total, n*100/p.total)
	} else {
		fmt.Fprintf(p.w, "\r%s %d records", p.verb, n)
	}
}

// while runs fn, an operation whose progress is unknown, and shows for
// how long it has run once that is more than a second.
func (p *progress) while(fn func() error) error {
	if p.w == nil {
		return fn()
	}
	stop := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		start := time.Now()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if el := time.Since(start); el >= time.Second {
					p.shown = time.Now()
					fmt.Fprintf(p.w, "\r%s (%.1f s)", p.verb, el.Seconds())
				}
			}
		}
	}()
	err := fn()
	close(stop)
	<-ended
	return err
}

func (p *progress) done() {
	if p.w != nil && !p.shown.IsZero() {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

// runBackupdb saves every record of a database, cluster-wide, with its
// header, as ctdb backupdb does.
func runBackupdb(ctx context.Context, r *request) (view, error) {
	db, err := openDB(ctx, r, r.args[0])
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(r.args[1], os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, failf("Failed to open file %s for writing", r.args[1])
	}
	defer f.Close()
	bw, err := newBackupWriter(f, backupHeader{Flags: db.Info().Flags, Time: time.Now(), Name: db.Name()})
	if err != nil {
		return nil, failf("Failed to write header to file %s", r.args[1])
	}
	p := r.x.newProgress("Backed up", 0)
	defer p.done()
	err = db.TraverseBatches(ctx, client.TraverseOptions{}, func(recs []proto.Record) error {
		if err := bw.add(recs); err != nil {
			return err
		}
		p.update(int(bw.total) + len(bw.chunk))
		return nil
	})
	if err != nil {
		return nil, &nodeError{pnn: r.pnn, err: fmt.Errorf("Failed to collect records from DB %s: %w", db.Name(), err)}
	}
	if err := bw.close(); err != nil {
		return nil, failf("Failed to write records to backup file: %v", err)
	}
	if err := f.Close(); err != nil {
		return nil, failf("Failed to write records to backup file: %v", err)
	}
	return &messageView{Message: "Database backed up to " + r.args[1]}, nil
}

func (x *cli) backupTime(t time.Time) string { return t.In(x.loc).Format("2006/01/02 15:04:05") }

func openBackup(path string) (backupHeader, []proto.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return backupHeader{}, nil, &exitError{status: 2, msg: fmt.Sprintf("Failed to open file %s for reading", path)}
	}
	defer f.Close()
	h, recs, err := readBackup(f)
	if err != nil {
		return h, nil, failf("Failed to read backup file %s: %v", path, err)
	}
	return h, recs, nil
}

// restoreView is restoredb's two lines.
type restoreView struct {
	Database string `json:"database"`
	BackupAt string `json:"backup_time"`
	Records  int    `json:"records"`
}

func (v *restoreView) writeText(w io.Writer) {
	fmt.Fprintf(w, "Restoring database %s from backup @ %s\nDatabase %s restored\n", v.Database, v.BackupAt, v.Database)
}

// runRestoredb replaces a database's records cluster-wide with a backup's,
// under the name in the file or the one given.
func runRestoredb(ctx context.Context, r *request) (view, error) {
	h, recs, err := openBackup(r.args[0])
	if err != nil {
		return nil, err
	}
	name := h.Name
	if len(r.args) == 2 {
		name = r.args[1]
	}
	db, err := r.c.Attach(ctx, name, client.DBType(h.Flags&proto.DBTypeFlags))
	if err != nil {
		return nil, failf("Failed to attach to DB %s", name)
	}
	p := r.x.newProgress("Restored", len(recs))
	err = db.Restore(ctx, recs, p.update)
	p.done()
	if err != nil {
		return nil, &nodeError{pnn: r.pnn, err: err}
	}
	return &restoreView{Database: name, BackupAt: r.x.backupTime(h.Time), Records: len(recs)}, nil
}

func runDumpdbbackup(_ context.Context, r *request) (view, error) {
	h, recs, err := openBackup(r.args[0])
	if err != nil {
		return nil, err
	}
	v := &dumpView{
		Header:      fmt.Sprintf("Dumping database %s from backup @ %s", h.Name, r.x.backupTime(h.Time)),
		Records:     make([]recordView, 0, len(recs)),
		Count:       len(recs),
		countFormat: "Dumped %d record(s)",
	}
	for _, rec := range recs {
		v.Records = append(v.Records, newRecordView(rec))
	}
	return v, nil
}
