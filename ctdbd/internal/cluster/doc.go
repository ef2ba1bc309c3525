// Package cluster is the cluster service (proto.ServiceCluster): it elects
// the leader by a race for the cluster lock, as CTDB 4.17 does, broadcasts
// leadership every second, fences a stalled leader, and tells every other
// service who leads.
//
// # Election
//
// With a cluster lock ([cluster] cluster lock), a node that is active (not
// stopped, banned or disconnected) and has the LEADER capability races for
// the lock when it has no leader: when it has heard no leader broadcast for
// [cluster] leader timeout, when the leader is disconnected, inactive or
// has lost its capability, or when the leader yields. At start a node asks
// the connected nodes who leads; once every configured node answered that
// nobody does, it races at once instead of waiting out the leader timeout,
// so a fresh cluster has a leader as soon as its nodes are connected. The
// winner takes the next leadership term, broadcasts at once and then every
// second with proto.FlagPriority, and holds the lock while it leads. It
// yields (releases the lock, then tells the others to race) when it is
// stopped or banned or loses its capability, and steps down at once when
// the lock is lost. A failed race never bans anybody: contention only
// means that another node leads.
//
// A leader that sees fewer than half of the nodes yields too: it is most
// likely the node cut off, and the lock, on storage it may still reach,
// would keep the majority without a leader. Such a node stays out of the
// race for a leader timeout, so the majority takes the lock first; if
// nobody does, the others are really gone and it may lead alone.
//
// Without a cluster lock the connected, active, leader-capable node with
// the lowest PNN leads; every node computes that from its own node map,
// so a partitioned cluster elects one leader per partition (split brain),
// which the log warns about at start.
//
// # Fencing
//
// The built-in helper (ctdbd/mutexhelper, a drop-in for CTDB's
// ctdb_mutex_fcntl_helper) holds an OFD lock in a child process, so a
// stuck lock never blocks ctdbd. It is leased: ctdbd renews the lease
// four times a second and the helper drops the lock when the lease (the
// leader timeout) runs out, so a stalled leader (SIGSTOP, a hung disk)
// loses the lock and another node leads. ctdbd counts the lock as held only until
// the time it sent the last acknowledged renewal plus the lease, so a
// leader that wakes up after a stall knows at once that it may no longer
// act. Every broadcast is preceded by a round trip in which the helper
// checks that the lock file path still names the locked inode. CTDB's own
// helpers (cluster lock = !command ...) keep the lock for as long as
// their process lives and cannot fence.
//
// # For other services
//
// The leader is published on proto.SrvIDLeader (proto.OpLeader with a
// proto.Leader: PNN, Term, Since, Mode) after every change; register the
// srvid and ask proto.OpGetLeader for the current view at start. The term
// grows with every change of leadership: put it in leader-only requests so
// their receivers can refuse a deposed leader's late messages (a node
// refuses terms below the highest it has seen).
//
// A leader-only action (recovery, takeover runs, banning culprits) must
// ask, right before each step, whether this node still leads and holds
// the lock (CTDB bug 16082: a stopped leader went on recovering):
//
//	rpc.CallTyped(ctx, port, proto.Endpoint{PNN: pnn, Service: proto.ServiceCluster},
//		proto.OpVerifyLeader, &proto.LeaderCheck{Term: term}, &verdict)
//
// StatusOK with a proto.LeaderVerdict means yes: this node leads in that
// term (0: any), is active and leader-capable, and the lock helper proved
// just now that it holds the lock on the current lock file. The step may
// rely on it for verdict.ValidFor (the rest of the lease) and must verify
// again if it takes longer; ValidFor is 0 with helpers that have no
// lease, where the answer holds only for the instant it was given.
// proto.StatusNotLeader means stop now. The check costs one round trip to
// the helper and never waits for the network.
//
// Every leader-only action is logged with LogLeaderAction (the fields
// action, term and valid_for), so that tests can prove from the logs that
// no two nodes acted as leader at the same time.
package cluster
