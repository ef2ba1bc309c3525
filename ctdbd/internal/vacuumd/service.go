// Package vacuumd is the vacuum service (proto.ServiceVacuum): every
// VacuumInterval it vacuums this node's volatile databases one at a
// time, in batches of at most vacuum.BatchSize records, through the
// database service: it asks for the tombstones this node is the data
// master of (the delete queue, or a full scan every VacuumFastPathCount
// runs), hands them to their location masters, which delete them
// cluster-wide, and compacts the database's file when enough of it is
// free. A run stops after VacuumMaxRunTime; whatever is left waits for
// the next. Package vacuum documents the rules.
//
// Requests: proto.OpVacuumRun (VacuumRequest) vacuums at once and
// answers with a VacuumReport; proto.OpVacuumStatus answers with the
// service's Statistics.
package vacuumd

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"gctdb/ctdbd/internal/service"
	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
	"gctdb/vacuum"
)

// Service is the vacuum service.
type Service struct {
	service.Base
	log  *slog.Logger
	port rpc.Port
	pnn  uint32
	work sync.WaitGroup

	// runMu makes runs one at a time.
	runMu     sync.Mutex
	schedules map[uint32]*vacuum.Schedule

	tunables service.Tunables

	mu       sync.Mutex
	counters map[string]uint64
	latency  proto.Latency
	start    time.Time
}

var _ service.Service = (*Service)(nil)

// New returns the vacuum service.
func New() *Service {
	return &Service{schedules: make(map[uint32]*vacuum.Schedule), counters: make(map[string]uint64)}
}

// ID implements service.Service.
func (s *Service) ID() proto.ServiceID { return proto.ServiceVacuum }

// Init implements service.Service.
func (s *Service) Init(ctx context.Context, env *service.Env) error {
	s.log, s.port, s.pnn = env.Logger, env.Port, env.PNN
	s.start = time.Now()
	s.tunables.Reset(env)
	if err := s.port.RegisterSrvID(ctx, proto.SrvIDTunables); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	return nil
}

// Reconfigure implements service.Service.
func (s *Service) Reconfigure(_ context.Context, env *service.Env) error {
	s.tunables.Reset(env)
	return nil
}

// Dispatch implements service.Service.
func (s *Service) Dispatch(ctx context.Context, m *proto.Message) {
	if m.Dst.Service == proto.ServiceMessage {
		s.tunables.Apply(m)
		return
	}
	switch m.Opcode {
	case proto.OpVacuumRun:
		var req proto.VacuumRequest
		if err := proto.DecodePayload(m, &req); err != nil {
			s.port.Reply(m, proto.StatusInvalid, err.Error(), nil)
			return
		}
		s.work.Add(1)
		go func() {
			defer s.work.Done()
			rep, err := s.run(ctx, req.DBID, req.Flags)
			if err != nil {
				s.port.Reply(m, proto.StatusFailed, err.Error(), nil)
				return
			}
			s.port.Reply(m, proto.StatusOK, "", rep)
		}()
	case proto.OpVacuumStatus:
		s.port.Reply(m, proto.StatusOK, "", s.statistics())
	default:
		s.port.Reply(m, proto.StatusUnsupported, fmt.Sprintf("vacuum service does not handle %s", m.Opcode), nil)
	}
}

// Run implements service.Service: a run every VacuumInterval.
func (s *Service) Run(ctx context.Context) error {
	defer s.work.Wait()
	for {
		interval := vacuum.Interval(s.tunables.Get().VacuumInterval)
		if interval == 0 {
			// Vacuuming is off; look again later in case it is turned on.
			interval = 10 * time.Second
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
		if s.tunables.Get().VacuumInterval > 0 {
			if _, err := s.run(ctx, 0, 0); err != nil && ctx.Err() == nil {
				s.log.Warn("vacuum run failed", "err", err)
			}
		}
	}
}

// run vacuums one database (dbid) or all volatile ones (0). Without
// VacuumFull in flags each database's schedule decides the kind of run.
func (s *Service) run(ctx context.Context, dbid, flags uint32) (*proto.VacuumReport, error) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	var dbm proto.DBMap
	if err := s.callDB(ctx, s.pnn, proto.OpGetDBMap, nil, &dbm); err != nil {
		return nil, fmt.Errorf("list databases: %w", err)
	}
	tun := s.tunables.Get()
	fastPath, maxRun := tun.VacuumFastPathCount, time.Duration(max(tun.VacuumMaxRunTime, 1))*time.Second
	rep := &proto.VacuumReport{}
	for _, d := range dbm.DBs {
		if d.Flags&(proto.DBFlagPersistent|proto.DBFlagReplicated) != 0 || (dbid != 0 && d.DBID != dbid) {
			continue
		}
		sch := s.schedules[d.DBID]
		if sch == nil {
			sch = &vacuum.Schedule{}
			s.schedules[d.DBID] = sch
		}
		kind := sch.Next(fastPath)
		if flags&proto.VacuumFull != 0 {
			kind = vacuum.Full
		}
		started := time.Now()
		rctx, cancel := context.WithTimeout(ctx, maxRun)
		r, err := s.vacuumDB(rctx, d, kind, flags&proto.VacuumForce != 0)
		cancel()
		s.account(kind, r, time.Since(started))
		if err != nil {
			s.log.Info("vacuum run of a database stopped", "db", d.Name, "kind", kind.String(), "err", err)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
		if r.Deleted > 0 || r.Compacted {
			s.log.Debug("database vacuumed", "db", d.Name, "kind", kind.String(), "deleted", r.Deleted, "skipped", r.Skipped,
				"failed", r.Failed, "size_before", r.SizeBefore, "size_after", r.SizeAfter)
		}
		rep.DBs = append(rep.DBs, r)
	}
	return rep, nil
}

// vacuumDB runs one vacuum of a database: scan, delete batch by batch
// through the location masters, then compact.
func (s *Service) vacuumDB(ctx context.Context, d proto.DBInfo, kind vacuum.Kind, force bool) (proto.VacuumDBReport, error) {
	r := proto.VacuumDBReport{DBID: d.DBID}
	scan := proto.VacuumScan{DBID: d.DBID, Max: vacuum.BatchSize}
	if kind == vacuum.Full {
		scan.Flags = proto.VacuumFull
	}
	for {
		var b proto.VacuumBatch
		if err := s.callDB(ctx, s.pnn, proto.OpVacuumScan, &scan, &b); err != nil {
			return r, fmt.Errorf("scan: %w", err)
		}
		r.Candidates += uint32(len(b.Records))
		if len(b.Records) > 0 {
			var v proto.VNNMap
			if err := s.callDB(ctx, s.pnn, proto.OpGetVNNMap, nil, &v); err != nil {
				return r, fmt.Errorf("vnnmap: %w", err)
			}
			v.Generation = b.Generation
			for _, batch := range vacuum.Plan(&v, b.Records, vacuum.BatchSize) {
				req := proto.VacuumBatch{DBID: d.DBID, Generation: b.Generation, Records: batch.Records}
				var res proto.VacuumResult
				if err := s.callDB(ctx, batch.LMaster, proto.OpVacuumDelete, &req, &res); err != nil {
					r.Failed += uint32(len(batch.Records))
					s.log.Debug("vacuum batch not deleted", "db", d.Name, "lmaster", batch.LMaster, "err", err)
					continue
				}
				r.Deleted += res.Deleted
				r.Skipped += res.Skipped
				r.Failed += res.Failed
			}
		}
		if !b.More {
			break
		}
		scan.Cursor = b.Cursor
	}
	var c proto.VacuumCompacted
	ctl := proto.DBControl{DBID: d.DBID}
	if force {
		ctl.Flags = proto.VacuumForce
	}
	if err := s.callDB(ctx, s.pnn, proto.OpVacuumCompact, &ctl, &c); err != nil {
		return r, fmt.Errorf("compact: %w", err)
	}
	r.Compacted, r.SizeBefore, r.SizeAfter = c.Compacted, c.SizeBefore, c.SizeAfter
	return r, nil
}

func (s *Service) account(kind vacuum.Kind, r proto.VacuumDBReport, took time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counters["runs"]++
	s.counters[kind.String()+"_runs"]++
	s.counters["deleted"] += uint64(r.Deleted)
	s.counters["skipped"] += uint64(r.Skipped)
	s.counters["failed"] += uint64(r.Failed)
	if r.Compacted {
		s.counters["compactions"]++
		if r.SizeBefore > r.SizeAfter {
			s.counters["bytes_freed"] += r.SizeBefore - r.SizeAfter
		}
	}
	s.latency.Add(took)
}

func (s *Service) statistics() *proto.Statistics {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &proto.Statistics{Start: proto.TimestampOf(s.start), Now: proto.TimestampOf(time.Now())}
	for _, n := range []string{"runs", "fast_runs", "full_runs", "deleted", "skipped", "failed", "compactions", "bytes_freed"} {
		st.Counters = append(st.Counters, proto.Counter{Name: n, Value: s.counters[n]})
	}
	l := s.latency
	l.Name = "vacuum_latency"
	st.Latencies = []proto.Latency{l}
	return st
}

func (s *Service) callDB(ctx context.Context, pnn uint32, op proto.Opcode, req, resp proto.Payload) error {
	return rpc.CallTyped(ctx, s.port, proto.Endpoint{PNN: pnn, Service: proto.ServiceDatabase}, op, req, resp)
}
