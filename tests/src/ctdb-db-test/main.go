// Command ctdb-db-test is CTDB's database test tool for gctdb:
//
//	ctdb-db-test [-d <level>] [-n <node>] [-t <seconds>] <command> <args>
//
//	get-lmaster <key>                      print the lmaster of a key
//	fetch-local-delete <dbname|dbid> <key> fetch a record and delete it
//	local-lock <dbname|dbid> <key>         lock a record's local copy in a
//	                                       process that holds it until SIGTERM
//	local-read <dbname|dbid> <key>         print the local copy of a record
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"gctdb/ctdbd/client"
	"gctdb/transportd/proto"
)

// lockChild marks the process local-lock starts to hold the lock.
const lockChild = "GCTDB_DB_TEST_LOCK_CHILD"

type tool struct {
	c        *client.Client
	destnode uint32
}

var commands = []struct {
	name, args, help string
	nargs            []int
	run              func(ctx context.Context, t *tool, args []string) int
}{
	{"get-lmaster", "<key>", "Print lmaster for key", []int{1}, getLMaster},
	{"fetch-local-delete", "<dbname|dbid> <key>", "Fetch record and delete from local database", []int{2}, fetchLocalDelete},
	{"local-lock", "<dbname|dbid> <key>", "Lock a record in a local database", []int{2}, localLock},
	{"local-read", "<dbname|dbid> <key>", "Read a record from local database", []int{2}, localRead},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: ctdb-db-test [<options>] <command> [<args>]")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-20s %-25s %s\n", c.name, c.args, c.help)
	}
}

func main() {
	if os.Getenv(lockChild) != "" {
		os.Exit(holdLock())
	}
	fs := pflag.NewFlagSet("ctdb-db-test", pflag.ContinueOnError)
	fs.StringP("debug", "d", "ERROR", "debug level")
	node := fs.IntP("node", "n", -1, "node number")
	timelimit := fs.IntP("timelimit", "t", 60, "timelimit")
	fs.SetOutput(io.Discard)
	fs.SetInterspersed(false)
	if err := fs.Parse(os.Args[1:]); err != nil || fs.NArg() == 0 {
		usage(os.Stderr)
		os.Exit(1)
	}
	args := fs.Args()
	for _, cmd := range commands {
		if cmd.name != args[0] {
			continue
		}
		if len(args)-1 != cmd.nargs[0] {
			usage(os.Stderr)
			os.Exit(1)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(*timelimit)*time.Second)
		c, err := client.Connect(ctx, client.SocketPath(os.LookupEnv), client.Options{Name: "ctdb-db-test"})
		if err != nil {
			fmt.Fprintf(os.Stderr, "Failed to connect to CTDB daemon (%s)\n", client.SocketPath(os.LookupEnv))
			os.Exit(1)
		}
		t := &tool{c: c, destnode: client.Local}
		if *node >= 0 {
			t.destnode = uint32(*node)
		}
		code := cmd.run(ctx, t, args[1:])
		c.Close()
		cancel()
		os.Exit(code)
	}
	usage(os.Stderr)
	os.Exit(1)
}

func getLMaster(ctx context.Context, t *tool, args []string) int {
	v, err := t.c.VNNMap(ctx, client.Local)
	if err != nil {
		fmt.Fprintf(os.Stderr, "Control GETVNN_MAP failed, ret=%v\n", err)
		return 1
	}
	fmt.Println(v.LMaster([]byte(args[0])))
	return 0
}

// volatileDB finds a volatile database on the target node.
func (t *tool) volatileDB(ctx context.Context, arg string) (*client.DB, error) {
	info, found, err := t.c.FindDB(ctx, t.destnode, arg)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("No database matching '%s' found", arg)
	}
	if info.Flags&(proto.DBFlagPersistent|proto.DBFlagReplicated) != 0 {
		return nil, fmt.Errorf("DB %s is not a volatile database", info.Name)
	}
	return t.c.OpenDB(info), nil
}

func fetchLocalDelete(ctx context.Context, t *tool, args []string) int {
	db, err := t.volatileDB(ctx, args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	rec, err := db.FetchLock(ctx, []byte(args[1]))
	if err != nil {
		fmt.Fprintf(os.Stderr, "Failed to fetch record for key %s\n", args[1])
		return 1
	}
	if err := rec.Delete(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "fetch_lock delete: %s failed, %v\n", db.Name(), err)
		return 1
	}
	return 0
}

func localRead(ctx context.Context, t *tool, args []string) int {
	db, err := t.volatileDB(ctx, args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	v, found, err := db.On(t.destnode).Fetch(ctx, []byte(args[1]))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if !found {
		fmt.Fprintf(os.Stderr, "No record for key %s\n", args[1])
		return 1
	}
	fmt.Printf("dmaster: %d\nrsn: %d\nflags: %s\n", v.Header.DMaster, v.Header.RSN, proto.RecFlagsString(v.Header.Flags))
	fmt.Printf("data(%d) = \"", len(v.Data))
	for _, c := range v.Data {
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			fmt.Printf("%c", c)
		} else {
			fmt.Printf("\\%02X", c)
		}
	}
	fmt.Println("\"")
	return 0
}

// localLock starts a process that locks the record's local copy and
// holds the lock until it is sent SIGTERM (or for 120 seconds); it prints
// "OK <pid>" once the lock is held.
func localLock(ctx context.Context, t *tool, args []string) int {
	if _, err := t.volatileDB(ctx, args[0]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "Failed to create pipe")
		return 1
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), lockChild+"=1")
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "Failed to fork()")
		return 1
	}
	w.Close()
	status := make([]byte, 1)
	if _, err := io.ReadFull(r, status); err != nil {
		status[0] = 22 // EINVAL, as CTDB's tool reports a child that said nothing
	}
	pid := cmd.Process.Pid
	cmd.Process.Release()
	if status[0] != 0 {
		fmt.Printf("FAIL %d\n", status[0])
		return int(status[0])
	}
	fmt.Printf("OK %d\n", pid)
	return 0
}

// holdLock is the local-lock child: it reports 0 on fd 3 once it holds
// the lock, then waits for SIGTERM.
func holdLock() int {
	report := os.NewFile(3, "status")
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, err)
		report.Write([]byte{1})
		return 1
	}
	if len(os.Args) != 3 {
		return fail(errors.New("local-lock: want <dbname|dbid> <key>"))
	}
	ctx := context.Background()
	c, err := client.Connect(ctx, client.SocketPath(os.LookupEnv), client.Options{Name: "ctdb-db-test local-lock"})
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	info, found, err := c.FindDB(ctx, client.Local, os.Args[1])
	if err != nil || !found {
		return fail(fmt.Errorf("DB %s not attached", os.Args[1]))
	}
	if _, err := c.OpenDB(info).LockLocal(ctx, []byte(os.Args[2])); err != nil {
		return fail(fmt.Errorf("Failed to lock chain for key %s: %w", os.Args[2], err))
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	report.Write([]byte{0})
	report.Close()
	os.Stdin.Close()
	os.Stdout.Close()
	os.Stderr.Close()
	select {
	case <-sigs:
	case <-c.Done():
	case <-time.After(120 * time.Second):
	}
	return 0
}
