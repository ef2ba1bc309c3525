package cluster

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// record is one structured log line of a daemon or of its lock helper.
type record struct {
	time   time.Time
	host   string // node.N
	prog   string // ctdbd, ctdb_mutex_fcntl_helper
	pid    int
	msg    string
	fields map[string]string
	line   string
}

var (
	headerRE = regexp.MustCompile(`^(\S+) (\S+) ([^\[\s]+)\[(\d+)\]: (.*)$`)
	fieldRE  = regexp.MustCompile(` ([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|\S*)`)
)

// parseLog reads a local daemon's log (file location, CTDB's header:
// time, host, program[pid]); lines of other hosts than host are skipped.
func parseLog(r io.Reader, host string) ([]record, error) {
	var out []record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		m := headerRE.FindStringSubmatch(line)
		if m == nil || m[2] != host {
			continue
		}
		t, err := time.Parse("2006-01-02T15:04:05.999999-07:00", m[1])
		if err != nil {
			return nil, fmt.Errorf("bad time in %q: %w", line, err)
		}
		pid, _ := strconv.Atoi(m[4])
		rec := record{time: t, host: m[2], prog: m[3], pid: pid, fields: map[string]string{}, line: line}
		body := m[5]
		locs := fieldRE.FindAllStringSubmatchIndex(body, -1)
		rec.msg = body
		if len(locs) > 0 {
			rec.msg = body[:locs[0][0]]
		}
		for _, l := range locs {
			k, v := body[l[2]:l[3]], body[l[4]:l[5]]
			if uq, err := strconv.Unquote(v); err == nil {
				v = uq
			}
			rec.fields[k] = v
		}
		out = append(out, rec)
	}
	return out, sc.Err()
}

func (r record) uint(key string) (uint64, bool) {
	v, err := strconv.ParseUint(r.fields[key], 10, 64)
	return v, err == nil
}

// lockInterval is one helper process's hold of the cluster lock, from its
// own records: from "cluster lock acquired" to "cluster lock released",
// or to when its node was killed (the helper dies with ctdbd without a
// word), or to the end of the run.
type lockInterval struct {
	host       string
	pid        int
	term       uint64
	inode      string
	start, end time.Time
	released   bool
}

// verification is one sampled OpVerifyLeader that said yes.
type verification struct {
	node          int
	term          uint64
	asked, answer time.Time
}

// history is everything the checker looks at.
type history struct {
	records []record
	// kills holds, per host, when its daemon was killed with SIGKILL.
	kills map[string][]time.Time
	end   time.Time
	// verified are the sampler's yes answers.
	verified []verification
}

// tolerance is the time a helper needs between logging that it releases
// the lock and its exit, which releases it; its parent may act as leader
// until it sees the exit.
const tolerance = 20 * time.Millisecond

// violations checks a history and describes every breach of safety: two
// helpers holding the lock on the same file at once, a leadership whose
// term does not grow over the previous one, a leader action outside its
// node's hold of the lock in that term, actions of one term by two nodes,
// an action of an older term after one of a newer term, and an older term
// confirmed by the sampler after a newer one. (A lock taken while the
// lock file was being replaced may carry a stale term; ctdbd gives such a
// lock up without acting on it, so only holds with actions count as
// leaderships.)
func violations(h history) []string {
	var out []string
	intervals := lockIntervals(h)
	for i, a := range intervals {
		for _, b := range intervals[i+1:] {
			if a.host != b.host && a.inode == b.inode && a.start.Before(b.end) && b.start.Before(a.end) {
				out = append(out, fmt.Sprintf("%s (term %d, %s..%s) and %s (term %d, %s..%s) held the lock on inode %s at once",
					a.host, a.term, stamp(a.start), stamp(a.end), b.host, b.term, stamp(b.start), stamp(b.end), a.inode))
			}
		}
	}

	var actions []record
	for _, r := range h.records {
		if r.prog == "ctdbd" && r.msg == "leader action" {
			actions = append(actions, r)
		}
	}
	sort.SliceStable(actions, func(i, j int) bool { return actions[i].time.Before(actions[j].time) })
	var highest uint64
	var highestAt time.Time
	led := map[int]bool{}
	actor := map[uint64]string{}
	for _, a := range actions {
		term, ok := a.uint("term")
		if !ok {
			out = append(out, "leader action without a term: "+a.line)
			continue
		}
		held := false
		for i, iv := range intervals {
			if iv.host == a.host && iv.term == term && !a.time.Before(iv.start) && !a.time.After(iv.end.Add(tolerance)) {
				held, led[i] = true, true
			}
		}
		if !held {
			out = append(out, "leader action without holding the lock in its term: "+a.line)
		}
		if who, ok := actor[term]; ok && who != a.host {
			out = append(out, fmt.Sprintf("%s and %s both acted as leader in term %d", who, a.host, term))
		}
		actor[term] = a.host
		if term < highest && a.time.Sub(highestAt) > tolerance {
			out = append(out, fmt.Sprintf("leader action of term %d after an action of term %d at %s: %s", term, highest, stamp(highestAt), a.line))
		}
		if term > highest {
			highest, highestAt = term, a.time
		}
	}
	prev := -1
	for i, iv := range intervals {
		if !led[i] {
			continue
		}
		if prev >= 0 && iv.term <= intervals[prev].term {
			out = append(out, fmt.Sprintf("%s led from %s in term %d, not above the previous leadership's term %d", iv.host, stamp(iv.start), iv.term, intervals[prev].term))
		}
		prev = i
	}

	for _, a := range h.verified {
		for _, b := range h.verified {
			if a.term < b.term && a.asked.After(b.answer.Add(tolerance)) {
				out = append(out, fmt.Sprintf("node %d confirmed term %d at %s, after node %d confirmed term %d at %s",
					a.node, a.term, stamp(a.asked), b.node, b.term, stamp(b.answer)))
			}
			if a.term == b.term && a.node != b.node {
				out = append(out, fmt.Sprintf("nodes %d and %d both confirmed term %d", a.node, b.node, a.term))
			}
		}
	}
	return out
}

// lockIntervals pairs each helper's records, ordered by the start.
func lockIntervals(h history) []lockInterval {
	open := map[string]*lockInterval{}
	var done []lockInterval
	for _, r := range h.records {
		if r.prog != "ctdb_mutex_fcntl_helper" {
			continue
		}
		key := r.host + "/" + strconv.Itoa(r.pid)
		term, _ := r.uint("term")
		switch r.msg {
		case "cluster lock acquired":
			open[key] = &lockInterval{host: r.host, pid: r.pid, term: term, inode: r.fields["inode"], start: r.time}
		case "cluster lock released":
			if iv := open[key]; iv != nil {
				iv.end, iv.released = r.time, true
				done = append(done, *iv)
				delete(open, key)
			}
		}
	}
	for _, iv := range open {
		iv.end = h.end
		for _, k := range h.kills[iv.host] {
			if k.After(iv.start) && k.Before(iv.end) {
				iv.end = k
			}
		}
		done = append(done, *iv)
	}
	sort.Slice(done, func(i, j int) bool { return done[i].start.Before(done[j].start) })
	return done
}

func stamp(t time.Time) string { return t.Format("15:04:05.000000") }

// describe summarises a history for the test log.
func describe(h history) string {
	iv := lockIntervals(h)
	actions := 0
	for _, r := range h.records {
		if r.msg == "leader action" {
			actions++
		}
	}
	terms := make([]string, 0, len(iv))
	for _, i := range iv {
		terms = append(terms, fmt.Sprintf("%s:%d", strings.TrimPrefix(i.host, "node."), i.term))
	}
	return fmt.Sprintf("%d lock holds (node:term %s), %d leader actions, %d confirmed samples", len(iv), strings.Join(terms, " "), actions, len(h.verified))
}
