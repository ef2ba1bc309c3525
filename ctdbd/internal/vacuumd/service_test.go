package vacuumd

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"gctdb/ctdbd/internal/cluster/fakenet"
	"gctdb/ctdbd/internal/service"
	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	volatileDB   = proto.DBInfo{DBID: proto.DBID("v.tdb"), Name: "v.tdb"}
	persistentDB = proto.DBInfo{DBID: proto.DBID("p.tdb"), Name: "p.tdb", Flags: proto.DBFlagPersistent}
	vnnmap       = proto.VNNMap{Generation: 5, Map: []uint32{0, 1, 2}}
)

// fakeDB plays the database service: node 0 has 1200 tombstones of the
// volatile database; every lmaster deletes all it is given.
type fakeDB struct {
	service.Base
	port rpc.Port
	pnn  uint32

	mu      sync.Mutex
	scans   []proto.VacuumScan
	deletes map[uint32]int // lmaster -> records
	wrong   int            // records sent to a node that is not their lmaster
	compact []uint32
}

func (d *fakeDB) ID() proto.ServiceID { return proto.ServiceDatabase }

func (d *fakeDB) Init(_ context.Context, env *service.Env) error {
	d.port, d.pnn = env.Port, env.PNN
	d.deletes = make(map[uint32]int)
	return nil
}

const tombstones = 1200

func (d *fakeDB) Dispatch(_ context.Context, m *proto.Message) {
	if m.Dst.Service == proto.ServiceMessage {
		return
	}
	ok := func(body proto.Payload) { d.port.Reply(m, proto.StatusOK, "", body) }
	d.mu.Lock()
	defer d.mu.Unlock()
	switch m.Opcode {
	case proto.OpGetDBMap:
		ok(&proto.DBMap{DBs: []proto.DBInfo{volatileDB, persistentDB}})
	case proto.OpGetVNNMap:
		ok(&vnnmap)
	case proto.OpVacuumScan:
		var req proto.VacuumScan
		if err := proto.DecodePayload(m, &req); err != nil {
			d.port.Reply(m, proto.StatusInvalid, err.Error(), nil)
			return
		}
		d.scans = append(d.scans, req)
		b := &proto.VacuumBatch{DBID: req.DBID, Generation: vnnmap.Generation}
		// The tombstones come in batches of at most req.Max, the
		// cursor counting those handed out.
		from := len(req.Cursor)
		if req.DBID == persistentDB.DBID {
			d.port.Reply(m, proto.StatusInvalid, "not vacuumed", nil)
			return
		}
		n := min(int(req.Max), tombstones-from)
		for i := from; i < from+n; i++ {
			b.Records = append(b.Records, proto.VacuumRecord{Key: []byte(fmt.Sprintf("k%d", i)), RSN: 3, DMaster: d.pnn})
		}
		if from+n < tombstones {
			b.More, b.Cursor = true, make([]byte, from+n)
		}
		ok(b)
	case proto.OpVacuumDelete:
		var b proto.VacuumBatch
		if err := proto.DecodePayload(m, &b); err != nil {
			d.port.Reply(m, proto.StatusInvalid, err.Error(), nil)
			return
		}
		for _, r := range b.Records {
			if vnnmap.LMaster(r.Key) != d.pnn {
				d.wrong++
			}
		}
		d.deletes[m.Src.PNN] += len(b.Records)
		ok(&proto.VacuumResult{Deleted: uint32(len(b.Records))})
	case proto.OpVacuumCompact:
		var c proto.DBControl
		if err := proto.DecodePayload(m, &c); err != nil {
			d.port.Reply(m, proto.StatusInvalid, err.Error(), nil)
			return
		}
		d.compact = append(d.compact, c.DBID)
		ok(&proto.VacuumCompacted{Compacted: true, SizeBefore: 4 << 20, SizeAfter: 1 << 20})
	default:
		d.port.Reply(m, proto.StatusUnsupported, "", nil)
	}
}

func TestRunHandsTombstonesToTheirLMastersInBatches(t *testing.T) {
	var dbs []*fakeDB
	var mu sync.Mutex
	net := fakenet.New(t, 3, "", func(uint32) []service.Service {
		d := &fakeDB{}
		mu.Lock()
		dbs = append(dbs, d)
		mu.Unlock()
		return []service.Service{d, New()}
	})
	var rep proto.VacuumReport
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, rpc.CallTyped(ctx, net.Client(0), proto.Endpoint{PNN: 0, Service: proto.ServiceVacuum}, proto.OpVacuumRun, &proto.VacuumRequest{}, &rep))
	require.Len(t, rep.DBs, 1, "persistent databases are not vacuumed")
	r := rep.DBs[0]
	assert.Equal(t, volatileDB.DBID, r.DBID)
	assert.Equal(t, uint32(tombstones), r.Candidates)
	assert.Equal(t, uint32(tombstones), r.Deleted)
	assert.True(t, r.Compacted)

	total := 0
	for _, d := range dbs {
		d.mu.Lock()
		assert.Zero(t, d.wrong, "node %d got records it is not the lmaster of", d.pnn)
		for _, n := range d.deletes {
			total += n
		}
		d.mu.Unlock()
	}
	assert.Equal(t, tombstones, total)

	d0 := dbs[0]
	for _, d := range dbs {
		if d.pnn == 0 {
			d0 = d
		}
	}
	d0.mu.Lock()
	require.GreaterOrEqual(t, len(d0.scans), 3, "1200 tombstones take three scans of at most 500")
	for _, s := range d0.scans {
		assert.LessOrEqual(t, s.Max, uint32(500))
		assert.NotZero(t, s.Flags&proto.VacuumFull, "the first run is a full one")
	}
	d0.scans = nil
	assert.Equal(t, []uint32{volatileDB.DBID}, d0.compact)
	d0.mu.Unlock()

	require.NoError(t, rpc.CallTyped(ctx, net.Client(0), proto.Endpoint{PNN: 0, Service: proto.ServiceVacuum}, proto.OpVacuumRun, &proto.VacuumRequest{}, &rep))
	d0.mu.Lock()
	require.NotEmpty(t, d0.scans)
	assert.Zero(t, d0.scans[0].Flags&proto.VacuumFull, "then fast ones")
	d0.mu.Unlock()

	var st proto.Statistics
	require.NoError(t, rpc.CallTyped(ctx, net.Client(0), proto.Endpoint{PNN: 0, Service: proto.ServiceVacuum}, proto.OpVacuumStatus, nil, &st))
	counters := map[string]uint64{}
	for _, c := range st.Counters {
		counters[c.Name] = c.Value
	}
	assert.Equal(t, uint64(2), counters["runs"])
	assert.Equal(t, uint64(1), counters["full_runs"])
	assert.Equal(t, uint64(1), counters["fast_runs"])
	assert.Equal(t, uint64(2*tombstones), counters["deleted"])
}
