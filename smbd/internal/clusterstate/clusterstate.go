// Package clusterstate keeps smbd's state in gctdb: share modes,
// byte-range locks and sessions in volatile clustered databases reached
// through ctdbd/client, and the bus between the smbd processes of the
// cluster as gctdb messages. It implements state.DB and state.Bus.
//
// A record lock is one fetch-lock round trip to the local ctdbd (which
// migrates the record to this node when another node holds it); storing,
// deleting or unlocking is a one-way message.
//
// Watches (state.Record.Watch) live in the records themselves: a record's
// value is prefixed by the list of watchers (node, srvid of their smbd,
// watch id) that wait for its next change. Whoever changes the record
// takes the list over and sends each watcher's smbd a message naming its
// watch ids, so a waiter on another node wakes within a message's time of
// the change. Watches of this process are woken directly.
package clusterstate

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"gctdb/ctdbd/client"
	"gctdb/smbd/internal/state"
	"gctdb/transportd/proto"
)

// Database names: Samba's, so `ctdb getdbmap` reads as operators expect
// (the record formats are gctdb's own).
const (
	ShareModesDB = "locking.tdb"
	LocksDB      = "brlock.tdb"
	SessionsDB   = "smbXsrv_session_global.tdb"
)

// srvidPrefix marks the srvids of smbd processes: the low 48 bits are the
// process's instance id, its pid (24 bits, Linux's pid_max limit) and 24
// random bits. It lies in the range CTDB leaves unused, next to gctdb's
// own (proto's 0xF7C0...).
const (
	srvidPrefix  uint64 = 0xF7C1_0000_0000_0000
	instanceMask uint64 = 0x0000_FFFF_FFFF_FFFF
	aliveTimeout        = 2 * time.Second
	// watchEvery is how often smbd checks that its ctdbd still serves its
	// databases (with a separate transportd the connection outlives
	// ctdbd, and a restarted ctdbd has wiped them).
	watchEvery    = time.Second
	msgVersion    = 1
	msgKindWatch  = 1 // watch ids that fired
	msgKindBus    = 2 // a state.Bus message for the server
	maxWatchBatch = 8192
)

// ErrBadMessage reports a malformed message from another smbd.
var ErrBadMessage = errors.New("clusterstate: malformed message")

// SrvID is the srvid the smbd process with instance id inst listens on.
func SrvID(inst uint64) uint64 { return srvidPrefix | inst&instanceMask }

// Cluster is this smbd process's presence in the cluster: its databases,
// its srvid and the goroutine that receives its messages.
type Cluster struct {
	c     *client.Client
	log   *slog.Logger
	self  state.Process
	srvid uint64
	sub   *client.Subscription
	stop  context.CancelFunc
	done  chan struct{}
	dbs   []*DB

	lost     chan struct{} // closed when the cluster is gone for this process
	lostErr  error
	lostOnce sync.Once
	watchWG  sync.WaitGroup

	mu        sync.Mutex
	watches   map[uint64]chan struct{}
	nextWatch uint64
	handler   func([]byte)
}

// Open attaches smbd's databases through c, registers this process's
// srvid and returns the Cluster and the state.Store on it. Close releases
// what Open took; the caller keeps c.
func Open(ctx context.Context, c *client.Client, log *slog.Logger) (*Cluster, *state.Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, nil, err
	}
	inst := (uint64(os.Getpid())&0xFF_FFFF)<<24 | uint64(binary.LittleEndian.Uint32(b[:]))&0xFF_FFFF
	cl := &Cluster{
		c:       c,
		log:     log,
		self:    state.Process{Node: c.PNN(), Instance: inst},
		srvid:   SrvID(inst),
		watches: map[uint64]chan struct{}{},
		done:    make(chan struct{}),
		lost:    make(chan struct{}),
	}
	st := &state.Store{Bus: cl}
	for _, d := range []struct {
		name string
		dst  *state.DB
	}{{ShareModesDB, &st.ShareModes}, {LocksDB, &st.Locks}, {SessionsDB, &st.Sessions}} {
		db, err := c.Attach(ctx, d.name, client.Volatile)
		if err != nil {
			return nil, nil, err
		}
		sdb := newDB(cl, db)
		cl.dbs = append(cl.dbs, sdb)
		*d.dst = sdb
	}
	sub, err := c.Subscribe(ctx, cl.srvid)
	if err != nil {
		return nil, nil, fmt.Errorf("register srvid %#x: %w", cl.srvid, err)
	}
	cl.sub = sub
	rctx, stop := context.WithCancel(context.Background())
	cl.stop = stop
	go cl.receive(rctx)
	cl.watchWG.Add(1)
	go func() {
		defer cl.watchWG.Done()
		cl.watchCtdbd(rctx)
	}()
	return cl, st, nil
}

// Lost is closed when this process can no longer use the cluster: the
// connection to ctdbd closed, or ctdbd no longer serves smbd's databases
// (it died behind a separate transportd, or restarted and wiped them).
// Err says why.
func (cl *Cluster) Lost() <-chan struct{} { return cl.lost }

// Err returns why the cluster was lost, nil before.
func (cl *Cluster) Err() error {
	select {
	case <-cl.lost:
		return cl.lostErr
	default:
		return nil
	}
}

func (cl *Cluster) markLost(err error) {
	cl.lostOnce.Do(func() {
		cl.lostErr = err
		close(cl.lost)
	})
}

// watchCtdbd checks every watchEvery that ctdbd still has smbd's share
// mode database, until ctx ends or the cluster is lost.
func (cl *Cluster) watchCtdbd(ctx context.Context) {
	want := cl.dbs[0].db.ID()
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-cl.c.Done():
			cl.markLost(fmt.Errorf("the connection to ctdbd closed: %w", cl.c.Err()))
			return
		case <-t.C:
		}
		qctx, cancel := context.WithTimeout(ctx, watchEvery)
		dbs, err := cl.c.DBMap(qctx, client.Local)
		cancel()
		switch {
		case proto.StatusOf(err) == proto.StatusUnsupported:
			cl.markLost(fmt.Errorf("ctdbd's database service is gone: %w", err))
			return
		case err != nil:
			cl.log.Warn("checking on ctdbd", "err", err)
		case !slices.ContainsFunc(dbs, func(d proto.DBInfo) bool { return d.DBID == want }):
			cl.markLost(fmt.Errorf("ctdbd no longer has %s: it restarted", ShareModesDB))
			return
		}
	}
}

// Close gives back the records this process keeps, stops receiving
// messages and deregisters the srvid.
func (cl *Cluster) Close() error {
	for _, d := range cl.dbs {
		d.flushIdle()
	}
	cl.stop()
	<-cl.done
	cl.watchWG.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), defaultTimeout)
	defer cancel()
	err := cl.sub.Close(ctx)
	if errors.Is(err, client.ErrClosed) {
		return nil
	}
	return err
}

// Self implements state.Bus.
func (cl *Cluster) Self() state.Process { return cl.self }

// Handle implements state.Bus.
func (cl *Cluster) Handle(fn func([]byte)) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.handler = fn
}

// Alive implements state.Bus: whether p's node has a client with p's pid
// that registered p's srvid. Only a node that is not connected or that
// says no makes it false; a failed or slow answer counts as alive.
func (cl *Cluster) Alive(ctx context.Context, p state.Process) bool {
	ctx, cancel := context.WithTimeout(ctx, aliveTimeout)
	defer cancel()
	ok, err := cl.c.ProcessExists(ctx, p.Node, uint32(p.Instance>>24), SrvID(p.Instance))
	if err != nil {
		return proto.StatusOf(err) != proto.StatusUnavailable
	}
	return ok
}

// Send implements state.Bus.
func (cl *Cluster) Send(to state.Process, msg []byte) error {
	b := make([]byte, 0, 2+len(msg))
	b = append(b, msgVersion, msgKindBus)
	return cl.c.SendMessage(to.Node, SrvID(to.Instance), append(b, msg...))
}

// receive serves the messages to this process's srvid until ctx ends or
// the connection closes.
func (cl *Cluster) receive(ctx context.Context) {
	defer close(cl.done)
	for {
		m, ok := cl.sub.Next(ctx)
		if !ok {
			return
		}
		if err := cl.dispatch(m.Payload); err != nil {
			cl.log.Warn("message from another smbd", "from", m.Src.PNN, "err", err)
		}
	}
}

func (cl *Cluster) dispatch(b []byte) error {
	if len(b) < 2 || b[0] != msgVersion {
		return ErrBadMessage
	}
	switch b[1] {
	case msgKindWatch:
		ids, err := decodeWatchIDs(b[2:])
		if err != nil {
			return err
		}
		cl.fire(ids)
	case msgKindBus:
		cl.mu.Lock()
		fn := cl.handler
		cl.mu.Unlock()
		if fn != nil {
			fn(b[2:])
		}
	default:
		return fmt.Errorf("%w: kind %d", ErrBadMessage, b[1])
	}
	return nil
}

// newWatch registers a watch of this process.
func (cl *Cluster) newWatch() (uint64, chan struct{}) {
	ch := make(chan struct{})
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.nextWatch++
	cl.watches[cl.nextWatch] = ch
	return cl.nextWatch, ch
}

func (cl *Cluster) dropWatch(id uint64) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	delete(cl.watches, id)
}

func (cl *Cluster) liveWatch(id uint64) bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	_, ok := cl.watches[id]
	return ok
}

// fire wakes this process's watches ids (those still registered).
func (cl *Cluster) fire(ids []uint64) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for _, id := range ids {
		if ch, ok := cl.watches[id]; ok {
			close(ch)
			delete(cl.watches, id)
		}
	}
}

// notify wakes the watchers of a changed record: this process's directly,
// every other process's with one message per process.
func (cl *Cluster) notify(ws []watcher) {
	type dest struct {
		node  uint32
		srvid uint64
	}
	var local []uint64
	remote := map[dest][]uint64{}
	for _, w := range ws {
		if w.node == cl.self.Node && w.srvid == cl.srvid {
			local = append(local, w.id)
			continue
		}
		d := dest{w.node, w.srvid}
		remote[d] = append(remote[d], w.id)
	}
	cl.fire(local)
	for d, ids := range remote {
		for len(ids) > 0 {
			n := min(len(ids), maxWatchBatch)
			if err := cl.c.SendMessage(d.node, d.srvid, encodeWatchIDs(ids[:n])); err != nil {
				cl.log.Warn("wake a watcher", "node", d.node, "srvid", d.srvid, "err", err)
			}
			ids = ids[n:]
		}
	}
}

func encodeWatchIDs(ids []uint64) []byte {
	b := make([]byte, 0, 6+8*len(ids))
	b = append(b, msgVersion, msgKindWatch)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		b = binary.LittleEndian.AppendUint64(b, id)
	}
	return b
}

func decodeWatchIDs(b []byte) ([]uint64, error) {
	if len(b) < 4 {
		return nil, ErrBadMessage
	}
	n := int(binary.LittleEndian.Uint32(b))
	b = b[4:]
	if n > maxWatchBatch || len(b) != 8*n {
		return nil, ErrBadMessage
	}
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return ids, nil
}
