package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"gctdb/transportd/proto"
)

// localConn is a unix socket connection: a client (ctdb, smbd, tests) or a
// process hosting services.
type localConn struct {
	t    *Transport
	id   uint64
	conn net.Conn
	role proto.Role
	name string
	pid  int32
	q    *frameQueue

	closeOnce sync.Once
	done      chan struct{}
}

func newLocalConn(t *Transport, id uint64, conn net.Conn, h *proto.Hello) *localConn {
	frames, bytes := t.cfg.ClientQueueFrames, t.cfg.ClientQueueBytes
	if h.Role == proto.RoleService {
		// A service process is part of the daemon: its queue is only a
		// guard against a wedged process, not a policy.
		frames, bytes = frames*10, bytes*4
	}
	return &localConn{
		t:    t,
		id:   id,
		conn: conn,
		role: h.Role,
		name: h.Name,
		pid:  peerPID(conn),
		q:    newFrameQueue(frames, bytes),
		done: make(chan struct{}),
	}
}

func peerPID(conn net.Conn) int32 {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return 0
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0
	}
	var pid int32
	raw.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			pid = cred.Pid
		}
	})
	return pid
}

func (c *localConn) String() string {
	return fmt.Sprintf("%s %d (%s, pid %d)", c.role, c.id, c.name, c.pid)
}

func (c *localConn) endpoint() proto.Endpoint {
	return proto.Endpoint{PNN: c.t.self, Service: proto.ServiceClient, ID: c.id}
}

// deliver queues a frame for the connection.
func (c *localConn) deliver(m *proto.Message) error {
	q := queued{frame: m.Encode()}
	if m.IsRequest() {
		q.req = m
	}
	if !c.q.push(q, m.Flags&proto.FlagPriority != 0) {
		return &proto.StatusError{Op: m.Opcode, Status: proto.StatusQueueFull, Msg: fmt.Sprintf("queue of %s is full", c)}
	}
	return nil
}

func (c *localConn) close(reason string) {
	c.closeOnce.Do(func() {
		close(c.done)
		c.conn.Close()
		c.t.log.Debug("local connection closed", "conn", c.String(), "reason", reason)
	})
}

func (c *localConn) serve(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.writeLoop(ctx)
	}()
	reason := c.readLoop()
	c.close(reason)
	wg.Wait()

	c.t.mu.Lock()
	delete(c.t.locals, c.id)
	nodeDaemon := c.t.services[proto.ServiceNode] == sink(c)
	c.t.mu.Unlock()
	c.t.unregisterSink(c)
	if nodeDaemon {
		// The node daemon is gone: its clients see the socket close,
		// as CTDB's clients do when ctdbd exits, instead of waiting on
		// a router that can no longer answer for the node.
		c.t.closeClients("ctdbd went away")
	}
	for _, q := range c.q.close() {
		if q.req != nil {
			c.t.bounce(q.req, &proto.StatusError{Op: q.req.Opcode, Status: proto.StatusUnavailable, Msg: "client disconnected"})
		}
	}
	if c.role == proto.RoleClient {
		c.t.publishClientCount()
		// Services holding state for the client (record locks, srvids)
		// release it at once. Not with priority: the announcement must
		// reach a service process after the client's last frames (a
		// store sent just before it closed), not overtake them.
		c.t.notify(proto.Endpoint{PNN: c.t.self, Service: proto.ServiceMessage, ID: proto.SrvIDClientGone},
			proto.OpClientGone, &proto.ClientGone{ConnID: c.id, PID: uint32(c.pid)}, false)
	}
}

func (c *localConn) readLoop() string {
	br := bufio.NewReaderSize(c.conn, 64<<10)
	for {
		m, err := proto.ReadFrame(br, c.t.cfg.MaxFrame)
		if err != nil {
			select {
			case <-c.done:
				return "closed"
			default:
			}
			if errors.Is(err, io.EOF) {
				return "client closed the connection"
			}
			c.t.badConnections.Add(1)
			c.t.log.Info("dropping local connection", "conn", c.String(), "reason", fmt.Sprintf("bad frame: %v", err))
			return fmt.Sprintf("bad frame: %v", err)
		}
		if c.role == proto.RoleClient {
			c.t.clientFramesRecv.Add(1)
		}
		if err := c.stampSource(m); err != nil {
			c.t.badConnections.Add(1)
			c.t.log.Info("dropping local connection", "conn", c.String(), "reason", err)
			return err.Error()
		}
		c.t.routeOrBounce(m)
	}
}

// stampSource fixes the source of a frame from this connection: a client
// is always {pnn, client, id}; a service process may speak for the
// services it registered.
func (c *localConn) stampSource(m *proto.Message) error {
	if c.role == proto.RoleService && m.Src.Service != proto.ServiceClient {
		c.t.mu.RLock()
		owner := c.t.services[m.Src.Service]
		c.t.mu.RUnlock()
		if owner != c {
			return fmt.Errorf("frame from service %s, which this connection does not provide", m.Src.Service)
		}
		m.Src.PNN = c.t.self
		return nil
	}
	m.Src = c.endpoint()
	return nil
}

func (c *localConn) writeLoop(ctx context.Context) {
	var batch []queued
	var bufs net.Buffers
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.done:
			return
		case <-c.q.wake:
		}
		for {
			batch = c.q.take(batch[:0], 1<<20)
			if len(batch) == 0 {
				break
			}
			bufs = bufs[:0]
			for _, q := range batch {
				bufs = append(bufs, q.frame)
			}
			c.conn.SetWriteDeadline(time.Now().Add(c.t.cfg.WriteTimeout))
			wb := bufs
			if _, err := wb.WriteTo(c.conn); err != nil {
				c.close(fmt.Sprintf("write: %v", err))
				return
			}
			if c.role == proto.RoleClient {
				c.t.clientFramesSent.Add(uint64(len(batch)))
			}
		}
	}
}

// handleRegistration applies a srvid or service registration frame.
func (c *localConn) handleRegistration(m *proto.Message) error {
	switch m.Opcode {
	case proto.OpRegisterSrvID, proto.OpDeregisterSrvID:
		var s proto.SrvID
		if err := proto.DecodePayload(m, &s); err != nil {
			return err
		}
		key := srvKey{proto.ServiceMessage, s.SrvID}
		if m.Opcode == proto.OpRegisterSrvID {
			c.t.registerSrvID(key, c)
		} else {
			c.t.deregisterSrvID(key, c)
		}
	case proto.OpRegisterService:
		if c.role != proto.RoleService {
			return errors.New("only service connections provide services")
		}
		var l proto.ServiceList
		if err := proto.DecodePayload(m, &l); err != nil {
			return err
		}
		for _, svc := range l.Services {
			if err := c.t.registerService(svc, c); err != nil {
				return err
			}
		}
	}
	return nil
}
