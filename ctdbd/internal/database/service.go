package database

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"gctdb/ctdbd/internal/config"
	"gctdb/ctdbd/internal/service"
	"gctdb/tdb"
	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
)

// Options are the database service's settings that do not come from
// ctdb.conf. Zero values take the configuration's.
type Options struct {
	// VolatileDir, PersistentDir and StateDir override the [database]
	// directories (tests).
	VolatileDir, PersistentDir, StateDir string
	// FlushInterval is the write-back interval of non-persistent stores;
	// zero means tdb's default.
	FlushInterval time.Duration
}

// Service is the database service.
type Service struct {
	service.Base
	opts Options
	log  *slog.Logger
	port rpc.Port
	pnn  uint32
	// ctx is the service's lifetime, set by Init; goroutines started by
	// Dispatch run under it and Run joins them.
	ctx  context.Context
	work service.Workers

	dirs struct{ volatile, persistent, state string }

	vnn     atomic.Pointer[proto.VNNMap]
	recmode atomic.Uint32
	nodes   atomic.Pointer[proto.NodeMap]

	mu       sync.Mutex
	dbs      map[uint32]*db
	order    []uint32 // attach order
	tunables config.Tunables
	closed   bool

	nextID atomic.Uint64

	migMu   sync.Mutex
	migWait map[uint64]*migWaiter
	// nodeCh is closed and replaced at every node map change.
	nodeCh chan struct{}

	// peers tells calls in flight that their node went away.
	links    peerWatch
	trav     travState
	tx       txState
	restores map[proto.Endpoint]*restore
}

var _ service.Service = (*Service)(nil)

// New returns the database service.
func New(opts Options) *Service {
	s := &Service{opts: opts, dbs: make(map[uint32]*db), migWait: make(map[uint64]*migWaiter),
		nodeCh: make(chan struct{}), restores: make(map[proto.Endpoint]*restore)}
	s.trav.init()
	s.tx.init()
	s.links.init()
	return s
}

// ID implements service.Service.
func (s *Service) ID() proto.ServiceID { return proto.ServiceDatabase }

// Init implements service.Service: it creates the database directories,
// takes the initial vnnmap from the nodes file and attaches the
// persistent databases found on disk, as CTDB does at start-up.
func (s *Service) Init(ctx context.Context, env *service.Env) error {
	s.ctx = ctx
	s.log, s.port, s.pnn = env.Logger, env.Port, env.PNN
	if env.Tunables != nil {
		s.tunables = *env.Tunables
	} else {
		s.tunables = config.DefaultTunables()
	}
	s.dirs.volatile, s.dirs.persistent, s.dirs.state = s.opts.VolatileDir, s.opts.PersistentDir, s.opts.StateDir
	if env.Config != nil {
		if s.dirs.volatile == "" {
			s.dirs.volatile = env.Config.VolatileDBDir()
		}
		if s.dirs.persistent == "" {
			s.dirs.persistent = env.Config.PersistentDBDir()
		}
		if s.dirs.state == "" {
			s.dirs.state = env.Config.StateDBDir()
		}
	}
	for _, d := range []string{s.dirs.volatile, s.dirs.persistent, s.dirs.state} {
		if d == "" {
			return errors.New("database: no database directory configured")
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("database: %w", err)
		}
	}
	s.vnn.Store(initialVNNMap(env.Nodes))
	s.nodes.Store(initialNodeMap(env.Nodes, s.pnn))
	for _, srvid := range []uint64{proto.SrvIDNodeMap, proto.SrvIDClientGone, proto.SrvIDTunables} {
		if err := s.port.RegisterSrvID(ctx, srvid); err != nil {
			return fmt.Errorf("database: %w", err)
		}
	}
	return s.attachFromDisk()
}

// Run implements service.Service: it expires idle traverses until the
// end, then waits for every goroutine it started and closes the
// databases.
func (s *Service) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case now := <-tick.C:
			s.expireTraverses(now)
			s.expirePins(now)
			s.expireGhosts(now)
		}
	}
	s.work.Close()
	s.mu.Lock()
	s.closed = true
	dbs := make([]*db, 0, len(s.dbs))
	for _, d := range s.dbs {
		dbs = append(dbs, d)
	}
	s.mu.Unlock()
	var errs []error
	for _, d := range dbs {
		errs = append(errs, d.close())
	}
	return errors.Join(errs...)
}

// spawn runs fn in a goroutine that Run joins.
func (s *Service) spawn(fn func()) {
	// Refused once Run is stopping: the ports are closing and the
	// callers get their errors from the transport.
	s.work.Go(fn)
}

// tunable returns a tunable's current value.
func (s *Service) tunable(get func(*config.Tunables) uint32) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return get(&s.tunables)
}

// controlTimeout bounds one request to another node.
func (s *Service) controlTimeout() time.Duration {
	return time.Duration(s.tunable(func(t *config.Tunables) uint32 { return t.ControlTimeout })) * time.Second
}

// request is one inbound request being handled.
type request struct {
	s *Service
	m *proto.Message
}

func (r request) reply(body proto.Payload) {
	if err := r.s.port.Reply(r.m, proto.StatusOK, "", body); err != nil {
		r.s.log.Debug("reply not sent", "op", r.m.Opcode.String(), "to", r.m.Src.String(), "err", err)
	}
}

func (r request) status(st proto.Status, msg string) {
	if err := r.s.port.Reply(r.m, st, msg, nil); err != nil {
		r.s.log.Debug("reply not sent", "op", r.m.Opcode.String(), "to", r.m.Src.String(), "err", err)
	}
}

// fail answers with err's status (StatusFailed for plain errors).
func (r request) fail(err error) {
	st := proto.StatusOf(err)
	var se *proto.StatusError
	msg := err.Error()
	if errors.As(err, &se) && se.Msg != "" {
		msg = se.Msg
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		st = proto.StatusTimeout
	case errors.Is(err, context.Canceled):
		st = proto.StatusUnavailable
	case errors.Is(err, tdb.ErrClosed):
		st = proto.StatusNotFound
	}
	if st == proto.StatusOK {
		st = proto.StatusFailed
	}
	r.status(st, msg)
}

// fromClient reports whether the request comes from a client rather than
// another service: administrative requests of clients are cluster-wide.
func (r request) fromClient() bool { return r.m.Src.Service == proto.ServiceClient }

// statusErr builds a *proto.StatusError for op.
func statusErr(op proto.Opcode, st proto.Status, format string, args ...any) error {
	return &proto.StatusError{Op: op, Status: st, Msg: fmt.Sprintf(format, args...)}
}

// decode decodes m's payload into p, answering StatusInvalid on failure.
func (r request) decode(p proto.Payload) bool {
	if err := proto.DecodePayload(r.m, p); err != nil {
		r.status(proto.StatusInvalid, err.Error())
		return false
	}
	return true
}

// Dispatch implements service.Service.
func (s *Service) Dispatch(ctx context.Context, m *proto.Message) {
	if m.Dst.Service == proto.ServiceMessage {
		s.handleEvent(m)
		return
	}
	r := request{s: s, m: m}
	h, ok := handlers[m.Opcode]
	if !ok {
		s.log.Debug("unexpected message", "op", m.Opcode.String(), "from", m.Src.String())
		r.status(proto.StatusUnsupported, fmt.Sprintf("database service does not handle %s", m.Opcode))
		return
	}
	h(s, ctx, r)
}

// handlers maps each opcode to its handler; handlers that may wait start
// a goroutine with spawn.
var handlers map[proto.Opcode]func(*Service, context.Context, request)

func init() {
	handlers = map[proto.Opcode]func(*Service, context.Context, request){
		proto.OpDBAttach:        (*Service).handleAttach,
		proto.OpDBDetach:        (*Service).handleDetach,
		proto.OpGetDBMap:        (*Service).handleGetDBMap,
		proto.OpGetDBInfo:       (*Service).handleGetDBInfo,
		proto.OpDBStatistics:    (*Service).handleStatistics,
		proto.OpGetDBSeqnum:     (*Service).handleGetSeqnum,
		proto.OpSetDBFlags:      (*Service).handleSetFlags,
		proto.OpWipeDB:          (*Service).handleWipe,
		proto.OpGetVNNMap:       (*Service).handleGetVNNMap,
		proto.OpSetVNNMap:       (*Service).handleSetVNNMap,
		proto.OpGetRecMode:      (*Service).handleGetRecMode,
		proto.OpFetchLock:       (*Service).handleFetchLock,
		proto.OpUnlock:          (*Service).handleUnlock,
		proto.OpFetch:           (*Service).handleFetch,
		proto.OpUpdateRecord:    (*Service).handleUpdateRecord,
		proto.OpTraverseStart:   (*Service).handleTraverseStart,
		proto.OpTraverseNext:    (*Service).handleTraverseNext,
		proto.OpTraverseEnd:     (*Service).handleTraverseEnd,
		proto.OpTransStart:      (*Service).handleTransStart,
		proto.OpTransCommit:     (*Service).handleTransCommit,
		proto.OpTransCancel:     (*Service).handleTransCancel,
		proto.OpMigrate:         (*Service).handleMigrate,
		proto.OpMigrateGrant:    (*Service).handleMigrateGrant,
		proto.OpMigrateFetch:    (*Service).handleMigrateFetch,
		proto.OpRevoke:          (*Service).handleRevoke,
		proto.OpTraversePull:    (*Service).handleTraversePull,
		proto.OpTxLock:          (*Service).handleTxLock,
		proto.OpTxUnlock:        (*Service).handleTxUnlock,
		proto.OpTxPrepare:       (*Service).handleTxPrepare,
		proto.OpTxCommit:        (*Service).handleTxCommit,
		proto.OpTxAbort:         (*Service).handleTxAbort,
		proto.OpPushRecords:     (*Service).handlePushRecords,
		proto.OpDBFreeze:        (*Service).handleFreeze,
		proto.OpDBThaw:          (*Service).handleThaw,
		proto.OpRecBegin:        (*Service).handleRecBegin,
		proto.OpRecFreeze:       (*Service).handleRecFreeze,
		proto.OpRecPull:         (*Service).handleRecPull,
		proto.OpRecPush:         (*Service).handleRecPush,
		proto.OpRecThaw:         (*Service).handleRecThaw,
		proto.OpRecFinish:       (*Service).handleRecFinish,
		proto.OpRecCheck:        (*Service).handleRecCheck,
		proto.OpVacuumScan:      (*Service).handleVacuumScan,
		proto.OpVacuumDelete:    (*Service).handleVacuumDelete,
		proto.OpVacuumTryDelete: (*Service).handleVacuumTryDelete,
		proto.OpVacuumCompact:   (*Service).handleVacuumCompact,
	}
}

// handleEvent applies the node map, tunables and client departures
// published on this node.
func (s *Service) handleEvent(m *proto.Message) {
	switch m.Dst.ID {
	case proto.SrvIDNodeMap:
		var nm proto.NodeMap
		if err := proto.DecodePayload(m, &nm); err != nil {
			s.log.Warn("bad node map event", "err", err)
			return
		}
		s.nodes.Store(&nm)
		s.links.update(&nm, s.pnn)
		if s.ownFlags()&proto.NodeFlagsInactive != 0 {
			s.invalidate()
		}
		s.mu.Lock()
		close(s.nodeCh)
		s.nodeCh = make(chan struct{})
		s.mu.Unlock()
		s.nodeGone(&nm)
	case proto.SrvIDTunables:
		var l proto.TunableList
		if err := proto.DecodePayload(m, &l); err != nil {
			s.log.Warn("bad tunables event", "err", err)
			return
		}
		s.mu.Lock()
		for _, t := range l.Tunables {
			// Names come from the node service's own table.
			_ = s.tunables.Set(t.Name, t.Value)
		}
		s.mu.Unlock()
	case proto.SrvIDClientGone:
		var g proto.ClientGone
		if err := proto.DecodePayload(m, &g); err != nil {
			s.log.Warn("bad client-gone event", "err", err)
			return
		}
		s.clientGone(proto.Endpoint{PNN: s.pnn, Service: proto.ServiceClient, ID: g.ConnID})
	}
}

// clientGone releases everything a departed client held: record locks,
// transactions and traverses.
func (s *Service) clientGone(owner proto.Endpoint) {
	for _, d := range s.allDBs() {
		d.releaseOwner(owner)
	}
	s.txClientGone(owner)
	s.travClientGone(owner)
	s.endRestore(owner)
}

// nodesChanged returns a channel closed at the next node map change.
func (s *Service) nodesChanged() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nodeCh
}

// connected reports whether node pnn is connected now.
func (s *Service) connected(pnn uint32) bool {
	for _, n := range s.nodes.Load().Nodes {
		if n.PNN == pnn {
			return n.Flags&(proto.NodeFlagDisconnected|proto.NodeFlagDeleted) == 0
		}
	}
	return false
}

// nodeGone reacts to nodes going away: transaction locks they held and
// transactions they prepared are dropped, databases they froze for a wipe
// or a restore thawed. A database a recovery froze stays frozen until the
// next recovery, which the new leader runs at once: its records may
// already be placed by the new vnnmap.
func (s *Service) nodeGone(nm *proto.NodeMap) {
	for _, n := range nm.Nodes {
		if n.PNN != s.pnn && n.Flags&proto.NodeFlagDisconnected != 0 {
			s.txNodeGone(n.PNN)
			s.thawFrozenBy(n.PNN)
		}
	}
}

// connectedPeers returns the other nodes that are connected now.
func (s *Service) connectedPeers() []uint32 {
	return s.peers(proto.NodeFlagDisconnected | proto.NodeFlagDeleted)
}

// activeNodes returns the nodes, this one included, that are connected
// and active (not banned or stopped).
func (s *Service) activeNodes() []uint32 {
	var out []uint32
	nm := s.nodes.Load()
	for _, n := range nm.Nodes {
		if n.Flags&proto.NodeFlagsInactive == 0 || n.PNN == s.pnn {
			out = append(out, n.PNN)
		}
	}
	return out
}

func (s *Service) peers(exclude uint32) []uint32 {
	var out []uint32
	for _, n := range s.nodes.Load().Nodes {
		if n.PNN != s.pnn && n.Flags&exclude == 0 {
			out = append(out, n.PNN)
		}
	}
	return out
}

func initialNodeMap(nodes []config.Node, self uint32) *proto.NodeMap {
	nm := &proto.NodeMap{}
	for _, n := range nodes {
		info := proto.NodeInfo{PNN: n.PNN, Flags: proto.NodeFlagDisconnected}
		if n.Deleted {
			info.Flags |= proto.NodeFlagDeleted
		}
		if n.PNN == self {
			info.Flags = 0
		}
		nm.Nodes = append(nm.Nodes, info)
	}
	return nm
}

// endpoint is the database service of node pnn.
func endpoint(pnn uint32) proto.Endpoint {
	return proto.Endpoint{PNN: pnn, Service: proto.ServiceDatabase}
}

// call sends a request to node pnn's database service and decodes the
// answer into resp.
func (s *Service) call(ctx context.Context, pnn uint32, op proto.Opcode, req, resp proto.Payload) error {
	rep, err := s.callNode(ctx, pnn, op, req)
	if err != nil {
		return err
	}
	if err := rep.Err(op); err != nil {
		return err
	}
	if resp != nil {
		if err := proto.Unmarshal(rep.Body, resp); err != nil {
			return fmt.Errorf("%s reply from node %d: %w", op, pnn, err)
		}
	}
	return nil
}

// callNode sends a request to node pnn's database service and returns
// the reply envelope. It gives up with StatusUnavailable as soon as pnn
// disconnects: a request already written to a node that dies is never
// answered, and its sender would otherwise wait for the whole timeout.
func (s *Service) callNode(ctx context.Context, pnn uint32, op proto.Opcode, req proto.Payload) (*proto.Reply, error) {
	if pnn == s.pnn {
		return s.port.Call(ctx, endpoint(pnn), op, req, 0)
	}
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(s.links.aliveCtx(pnn), func() { cancel(errNodeGone) })
	defer stop()
	rep, err := s.port.Call(cctx, endpoint(pnn), op, req, 0)
	if err != nil && errors.Is(context.Cause(cctx), errNodeGone) && ctx.Err() == nil {
		return nil, statusErr(op, proto.StatusUnavailable, "node %d went away", pnn)
	}
	return rep, err
}

// send sends a one-way frame to node pnn's database service.
func (s *Service) send(pnn uint32, op proto.Opcode, p proto.Payload) {
	m := &proto.Message{Header: proto.Header{Dst: endpoint(pnn), Opcode: op}, Payload: p.AppendTo(nil)}
	if err := s.port.Send(m); err != nil {
		s.log.Debug("send failed", "op", op.String(), "to", pnn, "err", err)
	}
}

// nodeResult is one node's answer to a request sent to several.
type nodeResult struct {
	pnn uint32
	err error
}

// callAll sends req to the database service of every node in pnns at once
// (this node's through local, when given) and returns each one's result.
func (s *Service) callAll(ctx context.Context, pnns []uint32, op proto.Opcode, req proto.Payload, local func() error) []nodeResult {
	res := make([]nodeResult, len(pnns))
	var wg sync.WaitGroup
	for i, pnn := range pnns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if pnn == s.pnn && local != nil {
				err = local()
			} else {
				err = s.call(ctx, pnn, op, req, nil)
			}
			res[i] = nodeResult{pnn: pnn, err: err}
		}()
	}
	wg.Wait()
	return res
}

// firstError returns the first failure among results, naming the node.
func firstError(results []nodeResult) error {
	for _, r := range results {
		if r.err != nil {
			return fmt.Errorf("node %d: %w", r.pnn, r.err)
		}
	}
	return nil
}

// askRecovery asks the recovery service for a recovery, without waiting:
// the copies of a database disagree.
func (s *Service) askRecovery(reason string) {
	s.log.Warn("asking for a recovery", "reason", reason)
	req := proto.RecoverRequest{Flags: proto.RecoverNoWait, Reason: reason}
	m := &proto.Message{Header: proto.Header{Dst: proto.Endpoint{PNN: s.pnn, Service: proto.ServiceRecovery}, Opcode: proto.OpRecover}, Payload: req.AppendTo(nil)}
	if err := s.port.Send(m); err != nil {
		s.log.Debug("recovery request not sent", "err", err)
	}
}
