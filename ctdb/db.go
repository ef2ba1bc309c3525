package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"gctdb/ctdbd/client"
	"gctdb/transportd/proto"
)

// Commands on clustered databases: the database map, attach and detach,
// records of volatile databases, dumps and statistics.
func dbCommands() []*command {
	attach := &command{name: "attach", args: "<dbname> [persistent|replicated]", help: "attach a database",
		minArgs: 1, maxArgs: 2, run: runAttach}
	attach.check = func(args []string) error {
		if len(args) == 2 {
			if _, ok := attachTypes[args[1]]; !ok {
				return &usageError{cmd: attach}
			}
		}
		return nil
	}
	readkey := &command{name: "readkey", args: "<dbname|dbid> <key> [readonly]", help: "read value of a database key",
		minArgs: 2, maxArgs: 3, run: runReadkey}
	readkey.check = func(args []string) error {
		if len(args) == 3 && args[2] != "readonly" {
			return &usageError{cmd: readkey}
		}
		return checkData(args[1:2])
	}
	return []*command{
		{name: "process-exists", args: "<pid> [<srvid>]", help: "check if a process exists on a node",
			minArgs: 1, maxArgs: 2, check: checkProcessExists, run: runProcessExists},
		{name: "getdbmap", help: "show attached databases", run: runGetdbmap},
		{name: "getdbstatus", args: "<dbname|dbid>", help: "show database status", minArgs: 1, maxArgs: 1, run: runGetdbstatus},
		{name: "catdb", args: "<dbname|dbid>", help: "dump cluster-wide ctdb database", minArgs: 1, maxArgs: 1, run: runCatdb},
		{name: "cattdb", args: "<dbname|dbid>", help: "dump local ctdb database", minArgs: 1, maxArgs: 1, run: runCattdb},
		attach,
		{name: "detach", args: "<dbname|dbid> ...", help: "detach database(s)", minArgs: 1, maxArgs: -1, localOnly: true, run: runDetach},
		{name: "wipedb", args: "<dbname|dbid>", help: "wipe the contents of a database.", minArgs: 1, maxArgs: 1, run: runWipedb},
		{name: "setdbreadonly", args: "<dbname|dbid>", help: "enable readonly records", minArgs: 1, maxArgs: 1,
			run: func(ctx context.Context, r *request) (view, error) {
				return setDBFlag(ctx, r, proto.DBFlagReadonly, "READONLY")
			}},
		{name: "setdbsticky", args: "<dbname|dbid>", help: "enable sticky records", minArgs: 1, maxArgs: 1,
			run: func(ctx context.Context, r *request) (view, error) {
				return setDBFlag(ctx, r, proto.DBFlagSticky, "STICKY")
			}},
		readkey,
		{name: "writekey", args: "<dbname|dbid> <key> <value>", help: "write value for a database key", minArgs: 3, maxArgs: 3,
			check: func(args []string) error { return checkData(args[1:3]) }, run: runWritekey},
		{name: "deletekey", args: "<dbname|dbid> <key>", help: "delete a database key", minArgs: 2, maxArgs: 2,
			check: func(args []string) error { return checkData(args[1:2]) }, run: runDeletekey},
		{name: "getdbseqnum", args: "<dbname|dbid>", help: "get database sequence number", minArgs: 1, maxArgs: 1, run: runGetdbseqnum},
		{name: "dbstatistics", args: "<dbname|dbid>", help: "show database statistics", minArgs: 1, maxArgs: 1, run: runDbstatistics},
	}
}

// attachTypes are the second arguments of attach: CTDB's, and gctdb's
// per-record-persistent databases.
var attachTypes = map[string]uint32{
	"persistent":            proto.DBFlagPersistent,
	"replicated":            proto.DBFlagReplicated,
	"readonly":              proto.DBFlagReadonly,
	"sticky":                proto.DBFlagSticky,
	"per-record-persistent": proto.DBFlagPerRecordPersistent,
}

// findDB resolves a <dbname|dbid> argument on the node of the request.
func findDB(ctx context.Context, r *request, arg string) (proto.DBInfo, error) {
	info, found, err := r.c.FindDB(ctx, r.pnn, arg)
	if err != nil {
		return proto.DBInfo{}, err
	}
	if !found {
		return proto.DBInfo{}, failf("No database matching '%s' found", arg)
	}
	return info, nil
}

// openDB resolves a <dbname|dbid> argument and returns its handle on the
// node of the request.
func openDB(ctx context.Context, r *request, arg string) (*client.DB, error) {
	info, err := findDB(ctx, r, arg)
	if err != nil {
		return nil, err
	}
	return r.c.OpenDB(info).On(r.pnn), nil
}

func transactional(flags uint32) bool {
	return flags&(proto.DBFlagPersistent|proto.DBFlagReplicated) != 0
}

// volatileDB opens a volatile database for the record commands.
func volatileDB(ctx context.Context, r *request) (*client.DB, error) {
	db, err := openDB(ctx, r, r.args[0])
	if err != nil {
		return nil, err
	}
	if transactional(db.Info().Flags) {
		return nil, failf("DB %s is not a volatile database", db.Name())
	}
	if r.pnn != r.self {
		return nil, failf("Records of %s can only be locked through the node the tool is connected to", db.Name())
	}
	return db, nil
}

// parseData converts a key or value argument as CTDB does: 0x followed by
// an even number of hex digits is bytes, anything else is its text.
func parseData(s string) ([]byte, error) {
	hexDigits, ok := strings.CutPrefix(s, "0x")
	if !ok {
		return []byte(s), nil
	}
	if len(hexDigits)%2 != 0 {
		return nil, failf("Key (%s) contains odd number of hex digits", hexDigits)
	}
	out := make([]byte, len(hexDigits)/2)
	for i := range out {
		v, err := strconv.ParseUint(hexDigits[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, failf("Failed to parse key %s", s)
		}
		out[i] = byte(v)
	}
	return out, nil
}

func checkData(args []string) error {
	for _, a := range args {
		if _, err := parseData(a); err != nil {
			return err
		}
	}
	return nil
}

// dbView is one database of the database map.
type dbView struct {
	DBID                uint32 `json:"dbid"`
	Name                string `json:"name"`
	Path                string `json:"path"`
	Persistent          bool   `json:"persistent"`
	Replicated          bool   `json:"replicated"`
	PerRecordPersistent bool   `json:"per_record_persistent"`
	Sticky              bool   `json:"sticky"`
	Readonly            bool   `json:"readonly"`
	Unhealthy           bool   `json:"unhealthy"`
	Health              string `json:"health"`
}

func newDBView(i proto.DBInfo) dbView {
	health := i.Health
	if health == "" {
		health = "OK"
	}
	return dbView{
		DBID: i.DBID, Name: i.Name, Path: i.Path,
		Persistent:          i.Flags&proto.DBFlagPersistent != 0,
		Replicated:          i.Flags&proto.DBFlagReplicated != 0,
		PerRecordPersistent: i.Flags&proto.DBFlagPerRecordPersistent != 0,
		Sticky:              i.Flags&proto.DBFlagSticky != 0,
		Readonly:            i.Flags&proto.DBFlagReadonly != 0,
		Unhealthy:           i.Health != "",
		Health:              health,
	}
}

// dbMapView is getdbmap.
type dbMapView struct {
	DBs []dbView `json:"databases"`
}

func (v *dbMapView) writeText(w io.Writer) {
	fmt.Fprintf(w, "Number of databases:%d\n", len(v.DBs))
	for _, d := range v.DBs {
		var flags strings.Builder
		for _, f := range []struct {
			on   bool
			name string
		}{{d.Persistent, "PERSISTENT"}, {d.Sticky, "STICKY"}, {d.Readonly, "READONLY"}, {d.Replicated, "REPLICATED"},
			{d.PerRecordPersistent, "PER_RECORD_PERSISTENT"}, {d.Unhealthy, "UNHEALTHY"}} {
			if f.on {
				flags.WriteString(" " + f.name)
			}
		}
		fmt.Fprintf(w, "dbid:0x%08x name:%s path:%s%s\n", d.DBID, d.Name, d.Path, flags.String())
	}
}

func (v *dbMapView) table() table {
	t := table{header: []string{"ID", "Name", "Path", "Persistent", "Sticky", "Unhealthy", "Readonly", "Replicated"}}
	for _, d := range v.DBs {
		t.rows = append(t.rows, []string{fmt.Sprintf("0x%08X", d.DBID), d.Name, d.Path, boolField(d.Persistent),
			boolField(d.Sticky), boolField(d.Unhealthy), boolField(d.Readonly), boolField(d.Replicated)})
	}
	return t
}

func runGetdbmap(ctx context.Context, r *request) (view, error) {
	dbs, err := r.c.DBMap(ctx, r.pnn)
	if err != nil {
		return nil, err
	}
	v := &dbMapView{DBs: []dbView{}}
	for _, d := range dbs {
		v.DBs = append(v.DBs, newDBView(d))
	}
	return v, nil
}

// dbStatusView is getdbstatus; gctdb adds the vacuuming counters of
// volatile databases after CTDB's lines.
type dbStatusView struct {
	dbView
	Vacuum *vacuumView `json:"vacuum,omitempty"`
}

// vacuumView is a database's vacuuming on one node.
type vacuumView struct {
	FastRuns          uint64     `json:"fast_runs"`
	FullRuns          uint64     `json:"full_runs"`
	Candidates        uint64     `json:"candidates"`
	Deleted           uint64     `json:"deleted"`
	Skipped           uint64     `json:"skipped"`
	Failed            uint64     `json:"failed"`
	Compactions       uint64     `json:"compactions"`
	BytesFreed        uint64     `json:"bytes_freed"`
	Tombstones        uint64     `json:"tombstones"`
	DurableTombstones uint64     `json:"durable_tombstones"`
	LastRun           *time.Time `json:"last_run"`
}

func newVacuumView(c proto.VacuumCounters) *vacuumView {
	v := &vacuumView{FastRuns: c.FastRuns, FullRuns: c.FullRuns, Candidates: c.Candidates, Deleted: c.Deleted, Skipped: c.Skipped,
		Failed: c.Failed, Compactions: c.Compactions, BytesFreed: c.BytesFreed, Tombstones: c.Tombstones, DurableTombstones: c.DurableTombstones}
	if c.LastRun != 0 {
		t := c.LastRun.Time().UTC()
		v.LastRun = &t
	}
	return v
}

// writeText prints the counters as a section of lines indented under
// title, in the style of CTDB's statistics.
func (v *vacuumView) writeText(w io.Writer, title string) {
	fmt.Fprintln(w, title)
	for _, f := range []struct {
		name string
		v    uint64
	}{{"fast_runs", v.FastRuns}, {"full_runs", v.FullRuns}, {"candidates", v.Candidates}, {"deleted", v.Deleted},
		{"skipped", v.Skipped}, {"failed", v.Failed}, {"compactions", v.Compactions}, {"bytes_freed", v.BytesFreed},
		{"tombstones", v.Tombstones}, {"durable_tombstones", v.DurableTombstones}} {
		fmt.Fprintf(w, "     %-22s%10d\n", f.name, f.v)
	}
	last := "never"
	if v.LastRun != nil {
		last = v.LastRun.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "     %-22s%10s\n", "last_run", last)
}

func (v *dbStatusView) writeText(w io.Writer) {
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	fmt.Fprintf(w, "dbid: 0x%08x\nname: %s\npath: %s\n", v.DBID, v.Name, v.Path)
	fmt.Fprintf(w, "PERSISTENT: %s\nREPLICATED: %s\nSTICKY: %s\nREADONLY: %s\n", yes(v.Persistent), yes(v.Replicated), yes(v.Sticky), yes(v.Readonly))
	if v.PerRecordPersistent {
		fmt.Fprintln(w, "PER_RECORD_PERSISTENT: yes")
	}
	fmt.Fprintf(w, "HEALTH: %s\n", v.Health)
	if v.Vacuum != nil {
		v.Vacuum.writeText(w, "VACUUM:")
	}
}

func runGetdbstatus(ctx context.Context, r *request) (view, error) {
	info, err := findDB(ctx, r, r.args[0])
	if err != nil {
		return nil, err
	}
	v := &dbStatusView{dbView: newDBView(info)}
	if info.Flags&(proto.DBFlagPersistent|proto.DBFlagReplicated) == 0 {
		st, err := r.c.DBStatistics(ctx, r.pnn, info.DBID)
		if err != nil {
			return nil, err
		}
		v.Vacuum = newVacuumView(st.Vacuum)
	}
	return v, nil
}

func runAttach(ctx context.Context, r *request) (view, error) {
	var flags uint32
	if len(r.args) == 2 {
		flags = attachTypes[r.args[1]]
	}
	typ := flags & proto.DBTypeFlags
	db, err := r.c.Attach(ctx, r.args[0], client.DBType(typ))
	if err != nil {
		var se *proto.StatusError
		if errors.As(err, &se) && se.Status != proto.StatusTimeout {
			return nil, failf("attach: %s", se.Msg)
		}
		return nil, err
	}
	if extra := flags &^ proto.DBTypeFlags; extra != 0 {
		return nil, r.c.SetDBFlags(ctx, r.pnn, db.ID(), extra)
	}
	return nil, nil
}

func runDetach(ctx context.Context, r *request) (view, error) {
	mode, err := r.c.RecoveryMode(ctx, r.pnn)
	if err != nil {
		return nil, err
	}
	if mode == proto.RecModeActive {
		return nil, failf("Database cannot be detached when recovery is active")
	}
	nm, err := r.c.NodeMap(ctx, r.pnn)
	if err != nil {
		return nil, err
	}
	for _, n := range nm.Nodes {
		if n.Flags&(proto.NodeFlagDisconnected|proto.NodeFlagDeleted) != 0 {
			continue
		}
		if n.Flags&proto.NodeFlagsInactive != 0 {
			return nil, failf("Database cannot be detached on inactive (stopped or banned) node %d", n.PNN)
		}
		v, err := r.c.GetTunable(ctx, n.PNN, "AllowClientDBAttach")
		if err != nil {
			return nil, failf("Unable to get tunable AllowClientDBAttach from node %d", n.PNN)
		}
		if v == 1 {
			return nil, failf("Database access is still active on node %d. Set AllowclientDBAttach=0 on all nodes.", n.PNN)
		}
	}
	var failed error
	for _, arg := range r.args {
		info, found, err := r.c.FindDB(ctx, r.pnn, arg)
		if err != nil {
			return nil, err
		}
		if !found {
			fmt.Fprintf(r.x.stderr, "No database matching '%s' found\n", arg)
			continue
		}
		if transactional(info.Flags) {
			return nil, failf("Only volatile databases can be detached")
		}
		if err := r.c.Detach(ctx, r.pnn, info.DBID); err != nil {
			r.x.log.Debug("detach failed", "db", info.Name, "err", err)
			fmt.Fprintf(r.x.stderr, "Database %s detach failed\n", info.Name)
			failed = &exitError{status: exitFailure}
		}
	}
	return nil, failed
}

func runWipedb(ctx context.Context, r *request) (view, error) {
	info, err := findDB(ctx, r, r.args[0])
	if err != nil {
		return nil, err
	}
	p := r.x.newProgress("Wiping "+info.Name+" on every node", 0)
	err = p.while(func() error { return r.c.WipeDB(ctx, r.pnn, info.DBID) })
	p.done()
	if err != nil {
		return nil, err
	}
	return &messageView{Message: fmt.Sprintf("Database %s wiped", info.Name)}, nil
}

// messageView is a command's one line of confirmation.
type messageView struct {
	Message string `json:"message"`
}

func (v *messageView) writeText(w io.Writer) { fmt.Fprintln(w, v.Message) }

func setDBFlag(ctx context.Context, r *request, flag uint32, name string) (view, error) {
	info, err := findDB(ctx, r, r.args[0])
	if err != nil {
		return nil, err
	}
	if info.Flags&proto.DBTypeFlags&^proto.DBFlagPerRecordPersistent != 0 {
		return nil, failf("%s can be set only on volatile DB", name)
	}
	return nil, r.c.SetDBFlags(ctx, r.pnn, info.DBID, flag)
}

// recordView is one record as catdb and cattdb dump it. Key and Data
// are CTDB's escaped text; the base64 fields have the exact bytes.
type recordView struct {
	Key        string `json:"key"`
	KeyBase64  string `json:"key_base64"`
	DMaster    uint32 `json:"dmaster"`
	RSN        uint64 `json:"rsn"`
	Flags      uint32 `json:"flags"`
	Data       string `json:"data"`
	DataBase64 string `json:"data_base64"`
}

func newRecordView(r proto.Record) recordView {
	return recordView{
		Key: escapeData(r.Key), KeyBase64: base64.StdEncoding.EncodeToString(r.Key),
		DMaster: r.Header.DMaster, RSN: r.Header.RSN, Flags: r.Header.Flags,
		Data: escapeData(r.Data), DataBase64: base64.StdEncoding.EncodeToString(r.Data),
	}
}

// escapeData is CTDB's rendering of bytes: printable ASCII as it is,
// except '"' and '\', everything else as \XX.
func escapeData(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			s.WriteByte(c)
		} else {
			fmt.Fprintf(&s, "\\%02X", c)
		}
	}
	return s.String()
}

func (v *recordView) writeText(w io.Writer) {
	fmt.Fprintf(w, "key(%d) = \"%s\"\n", len(mustBase64(v.KeyBase64)), v.Key)
	v.writeHeaderAndData(w)
}

// writeHeaderAndData is the part tfetch prints too.
func (v *recordView) writeHeaderAndData(w io.Writer) {
	fmt.Fprintf(w, "dmaster: %d\nrsn: %d\nflags: %s\n", v.DMaster, v.RSN, proto.RecFlagsString(v.Flags))
	fmt.Fprintf(w, "data(%d) = \"%s\"\n", len(mustBase64(v.DataBase64)), v.Data)
}

func mustBase64(s string) []byte {
	b, _ := base64.StdEncoding.DecodeString(s)
	return b
}

// dumpView is catdb, cattdb and dumpdbbackup: records and their count.
type dumpView struct {
	// Header is dumpdbbackup's first line.
	Header  string       `json:"-"`
	Records []recordView `json:"records"`
	Count   int          `json:"count"`
	// countFormat is CTDB's last line, which differs between commands.
	countFormat string
}

func (v *dumpView) writeText(w io.Writer) {
	if v.Header != "" {
		fmt.Fprintln(w, v.Header)
	}
	for i := range v.Records {
		v.Records[i].writeText(w)
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, v.countFormat+"\n", v.Count)
}

func dumpDB(ctx context.Context, r *request, opts client.TraverseOptions, countFormat string) (view, error) {
	db, err := openDB(ctx, r, r.args[0])
	if err != nil {
		return nil, err
	}
	v := &dumpView{Records: []recordView{}, countFormat: countFormat}
	err = db.Traverse(ctx, opts, func(rec proto.Record) error {
		v.Records = append(v.Records, newRecordView(rec))
		return nil
	})
	if err != nil {
		return nil, err
	}
	v.Count = len(v.Records)
	return v, nil
}

func runCatdb(ctx context.Context, r *request) (view, error) {
	return dumpDB(ctx, r, client.TraverseOptions{}, "Dumped %d records")
}

func runCattdb(ctx context.Context, r *request) (view, error) {
	return dumpDB(ctx, r, client.TraverseOptions{Local: true, WithDeleted: true}, "Dumped %d record(s)")
}

// readkeyView is readkey's "Data: size:N ptr:[...]".
type readkeyView struct {
	Size       int    `json:"size"`
	Exists     bool   `json:"exists"`
	DataBase64 string `json:"data_base64"`
	data       []byte
}

func (v *readkeyView) writeText(w io.Writer) {
	fmt.Fprintf(w, "Data: size:%d ptr:[", v.Size)
	w.Write(v.data)
	fmt.Fprintln(w, "]")
}

func runReadkey(ctx context.Context, r *request) (view, error) {
	db, err := volatileDB(ctx, r)
	if err != nil {
		return nil, err
	}
	key, _ := parseData(r.args[1])
	var v client.Value
	if len(r.args) == 3 {
		v, err = db.FetchReadonly(ctx, key)
	} else {
		var rec *client.Record
		if rec, err = db.FetchLock(ctx, key); err == nil {
			v = client.Value{Header: rec.Header, Data: rec.Data}
			err = rec.Unlock()
		}
	}
	if err != nil {
		return nil, &nodeError{pnn: r.pnn, err: fmt.Errorf("Failed to read record for key %s: %w", r.args[1], err)}
	}
	if !v.Exists() {
		v.Data = nil
	}
	return &readkeyView{Size: len(v.Data), Exists: v.Exists(), DataBase64: base64.StdEncoding.EncodeToString(v.Data), data: v.Data}, nil
}

func runWritekey(ctx context.Context, r *request) (view, error) {
	db, err := volatileDB(ctx, r)
	if err != nil {
		return nil, err
	}
	key, _ := parseData(r.args[1])
	data, _ := parseData(r.args[2])
	rec, err := db.FetchLock(ctx, key)
	if err != nil {
		return nil, failf("Failed to lock record for key %s", r.args[0])
	}
	if err := rec.Store(ctx, data); err != nil {
		return nil, failf("Failed to store record for key %s", r.args[1])
	}
	if err := applied(ctx, db, key); err != nil {
		return nil, failf("Failed to store record for key %s", r.args[1])
	}
	return nil, nil
}

// applied returns once the daemon has applied the store or delete this
// client sent for key without waiting: the next lock of the record is
// granted only then. CTDB's tool writes the record itself before it
// exits, so a command run right after sees the change; so must ours.
func applied(ctx context.Context, db *client.DB, key []byte) error {
	rec, err := db.FetchLock(ctx, key)
	if err != nil {
		return err
	}
	return rec.Unlock()
}

func runDeletekey(ctx context.Context, r *request) (view, error) {
	db, err := volatileDB(ctx, r)
	if err != nil {
		return nil, err
	}
	key, _ := parseData(r.args[1])
	rec, err := db.FetchLock(ctx, key)
	if err != nil {
		return nil, failf("Failed to fetch record for key %s", r.args[1])
	}
	if err := rec.Delete(ctx); err != nil {
		return nil, failf("Failed to delete record for key %s", r.args[1])
	}
	if err := applied(ctx, db, key); err != nil {
		return nil, failf("Failed to delete record for key %s", r.args[1])
	}
	return nil, nil
}

// seqnumView is getdbseqnum.
type seqnumView struct {
	Seqnum uint64 `json:"seqnum"`
}

func (v *seqnumView) writeText(w io.Writer) { fmt.Fprintf(w, "0x%x\n", v.Seqnum) }

func runGetdbseqnum(ctx context.Context, r *request) (view, error) {
	info, err := findDB(ctx, r, r.args[0])
	if err != nil {
		return nil, err
	}
	seq, err := r.c.DBSeqnum(ctx, r.pnn, info.DBID)
	if err != nil {
		return nil, failf("Failed to get sequence number for DB %s", info.Name)
	}
	return &seqnumView{Seqnum: seq}, nil
}

// dbStatisticsView is dbstatistics.
type dbStatisticsView struct {
	Name          string        `json:"name"`
	RODelegations uint32        `json:"db_ro_delegations"`
	RORevokes     uint32        `json:"db_ro_revokes"`
	Locks         lockStatsView `json:"locks"`
	HopCounts     []uint32      `json:"hop_count_buckets"`
	LockBuckets   []uint32      `json:"lock_buckets"`
	LocksLatency  latencyView   `json:"locks_latency"`
	VacuumLatency latencyView   `json:"vacuum_latency"`
	HotKeys       []hotKeyView  `json:"hot_keys"`
	MigrationsIn  uint64        `json:"migrations_in"`
	MigrationsOut uint64        `json:"migrations_out"`
	Records       uint64        `json:"records"`
	FileSize      uint64        `json:"file_size"`
	LiveBytes     uint64        `json:"live_bytes"`
	Vacuum        *vacuumView   `json:"vacuum"`
}

type lockStatsView struct {
	Calls   uint64 `json:"num_calls"`
	Current uint32 `json:"num_current"`
	Pending uint32 `json:"num_pending"`
	Failed  uint64 `json:"num_failed"`
}

func newLatencyView(l proto.Latency) latencyView {
	v := latencyView{Count: l.Count, Min: l.Min, Max: l.Max}
	if l.Count > 0 {
		v.Avg = l.Total / float64(l.Count)
	}
	return v
}

type hotKeyView struct {
	Count uint32 `json:"count"`
	Key   string `json:"key"`
}

func (v *dbStatisticsView) writeText(w io.Writer) {
	fmt.Fprintf(w, "DB Statistics %s\n", v.Name)
	fmt.Fprintf(w, " %-22s    %10d\n", "db_ro_delegations", v.RODelegations)
	fmt.Fprintf(w, " %-22s    %10d\n", "db_ro_revokes", v.RORevokes)
	fmt.Fprintln(w, " locks")
	for _, f := range []struct {
		name string
		v    uint64
	}{{"num_calls", v.Locks.Calls}, {"num_current", uint64(v.Locks.Current)}, {"num_pending", uint64(v.Locks.Pending)}, {"num_failed", v.Locks.Failed}} {
		fmt.Fprintf(w, "     %-22s%10d\n", f.name, f.v)
	}
	buckets := func(name string, b []uint32) {
		fmt.Fprintf(w, " %s:", name)
		for _, n := range b {
			fmt.Fprintf(w, " %d", n)
		}
		fmt.Fprintln(w)
	}
	buckets("hop_count_buckets", v.HopCounts)
	buckets("lock_buckets", v.LockBuckets)
	fmt.Fprintf(w, " %-30s     %.6f/%.6f/%.6f sec out of %d\n", "locks_latency      MIN/AVG/MAX",
		v.LocksLatency.Min, v.LocksLatency.Avg, v.LocksLatency.Max, v.LocksLatency.Count)
	fmt.Fprintf(w, " %-30s     %.6f/%.6f/%.6f sec out of %d\n", "vacuum_latency     MIN/AVG/MAX",
		v.VacuumLatency.Min, v.VacuumLatency.Avg, v.VacuumLatency.Max, v.VacuumLatency.Count)
	fmt.Fprintf(w, " Num Hot Keys:     %d\n", len(v.HotKeys))
	for _, k := range v.HotKeys {
		fmt.Fprintf(w, "     Count:%d Key:%s\n", k.Count, k.Key)
	}
	v.Vacuum.writeText(w, " vacuum")
}

func runDbstatistics(ctx context.Context, r *request) (view, error) {
	info, err := findDB(ctx, r, r.args[0])
	if err != nil {
		return nil, err
	}
	st, err := r.c.DBStatistics(ctx, r.pnn, info.DBID)
	if err != nil {
		return nil, err
	}
	v := &dbStatisticsView{
		Name: info.Name, RODelegations: st.RODelegations, RORevokes: st.RORevokes,
		Locks:        lockStatsView{Calls: st.LockCalls, Current: st.LockCurrent, Pending: st.LockPending, Failed: st.LockFailed},
		HopCounts:    st.HopCounts[:],
		LockBuckets:  st.LockBuckets[:],
		LocksLatency: newLatencyView(st.LockLatency), VacuumLatency: newLatencyView(st.VacuumLatency),
		HotKeys:      make([]hotKeyView, 10),
		MigrationsIn: st.MigrationsIn, MigrationsOut: st.MigrationsOut,
		Records: st.Records, FileSize: st.FileSize, LiveBytes: st.LiveBytes,
		Vacuum: newVacuumView(st.Vacuum),
	}
	// CTDB always lists ten hot keys, unused ones empty.
	for i, k := range st.HotKeys {
		if i < len(v.HotKeys) {
			v.HotKeys[i] = hotKeyView{Count: k.Count, Key: fmt.Sprintf("%x", k.Key)}
		}
	}
	return v, nil
}

func checkProcessExists(args []string) error {
	if _, err := strconv.ParseInt(args[0], 10, 32); err != nil {
		return failf("Invalid PID %s", args[0])
	}
	if len(args) == 2 {
		if _, err := parseCUint(args[1], 64); err != nil {
			return failf("Invalid SRVID %s", args[1])
		}
	}
	return nil
}

// processExistsView is process-exists; the exit status is 1 when the
// process does not exist, as in CTDB.
type processExistsView struct {
	PID    uint32 `json:"pid"`
	SrvID  uint64 `json:"srvid,omitempty"`
	Exists bool   `json:"exists"`
}

func (v *processExistsView) writeText(w io.Writer) {
	state := "does not exist"
	if v.Exists {
		state = "exists"
	}
	if v.SrvID != 0 {
		fmt.Fprintf(w, "PID %d with SRVID 0x%x %s\n", v.PID, v.SrvID, state)
		return
	}
	fmt.Fprintf(w, "PID %d %s\n", v.PID, state)
}

func (v *processExistsView) exitStatus() int {
	if v.Exists {
		return exitOK
	}
	return exitFailure
}

func runProcessExists(ctx context.Context, r *request) (view, error) {
	pid, _ := strconv.ParseInt(r.args[0], 10, 32)
	var srvid uint64
	if len(r.args) == 2 {
		srvid, _ = parseCUint(r.args[1], 64)
	}
	ok, err := r.c.ProcessExists(ctx, r.pnn, uint32(pid), srvid)
	if err != nil {
		return nil, err
	}
	return &processExistsView{PID: uint32(pid), SrvID: srvid, Exists: ok}, nil
}
