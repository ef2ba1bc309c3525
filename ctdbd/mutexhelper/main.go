// Command ctdb_mutex_fcntl_helper is gctdb's cluster lock helper, a
// drop-in for CTDB's helper of the same name:
//
//	ctdb_mutex_fcntl_helper FILE [RECHECK_INTERVAL [PING_TIMEOUT]]
//
// It takes an fcntl lock on byte 0 of FILE (creating it) and prints one
// character, CTDB's mutex-helper contract: '0' taken, '1' contended, '2'
// timeout, '3' error. After '0' it holds the lock until it is killed, its
// parent dies, or FILE no longer names the locked inode (checked every
// RECHECK_INTERVAL seconds, default 5, 0 to never check). PING_TIMEOUT is
// accepted for compatibility and ignored.
//
// The lock is an open file description (OFD) lock, which conflicts with
// CTDB's classic fcntl locks on the same file, so the two helpers exclude
// each other.
//
// Run by gctdb's ctdbd, the helper also speaks a lease protocol that
// fences a stalled leader (the environment variables and the protocol are
// described in lease.go): when the parent stops renewing the lease, the
// helper gives the lock up by itself, so a SIGSTOPped or hung ctdbd no
// longer keeps the whole cluster leaderless.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	code, _ := run(os.Args, os.LookupEnv, os.Stdin, os.Stdout, os.Stderr, sigs)
	os.Exit(code)
}
