// Command smbpasswd manages the users of gctdb's smbd, whose names and NT
// hashes live in a persistent gctdb database that every node reads. It
// takes Samba's flags: -a add (or set the password of an existing user),
// -x delete, -d disable, -e enable, none to change a password, and -s to
// read the new password twice from standard input without prompting.
// Passwords are never taken from the command line. It reaches the local
// ctdbd as ctdb does (CTDB_SOCKET, or $CTDB_BASE/run/ctdbd.socket in test
// mode).
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"gctdb/ctdbd/client"
	"gctdb/smbd/internal/auth"
	"gctdb/smbd/internal/userdb"
)

type options struct {
	add, del, disable, enable, stdin bool
}

// errReported is an error already printed in Samba's words.
var errReported = errors.New("reported")

func main() {
	cmd := newCmd(os.Stdin, os.Stdout, os.Stderr, client.SocketPath(os.LookupEnv))
	if err := cmd.Execute(); err != nil {
		if !errors.Is(err, errReported) {
			fmt.Fprintln(os.Stderr, "smbpasswd:", err)
		}
		os.Exit(1)
	}
}

func newCmd(in io.Reader, out, errOut io.Writer, socket string) *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:           "smbpasswd [-a|-x|-d|-e] [-s] [username]",
		Short:         "manage the users of gctdb's smbd",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			} else if u, err := user.Current(); err == nil {
				name = u.Username
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 60*time.Second)
			defer cancel()
			return run(ctx, o, name, in, out, errOut, socket)
		},
	}
	cmd.SetIn(in)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	f := cmd.Flags()
	f.BoolVarP(&o.add, "add", "a", false, "add the user (or set the password of an existing one)")
	f.BoolVarP(&o.del, "delete", "x", false, "delete the user")
	f.BoolVarP(&o.disable, "disable", "d", false, "disable the user")
	f.BoolVarP(&o.enable, "enable", "e", false, "enable the user")
	f.BoolVarP(&o.stdin, "stdin", "s", false, "read the new password twice from standard input, without prompts")
	cmd.MarkFlagsMutuallyExclusive("add", "delete", "disable", "enable")
	return cmd
}

func run(ctx context.Context, o *options, name string, in io.Reader, out, errOut io.Writer, socket string) error {
	if err := userdb.ValidName(name); err != nil {
		return err
	}
	var hash [16]byte
	if !o.del && !o.disable && !o.enable {
		pw, err := newPassword(in, errOut, o.stdin)
		if err != nil {
			return err
		}
		hash = auth.NTHash(pw)
	}
	c, err := client.Connect(ctx, socket)
	if err != nil {
		return err
	}
	defer c.Close()
	db, err := userdb.Open(ctx, c)
	if err != nil {
		return err
	}
	added := false
	err = db.Change(ctx, name, func(u *auth.User) (*auth.User, error) {
		if u == nil {
			if !o.add {
				return nil, notFound(errOut, name)
			}
			added = true
			return &auth.User{Name: name, NTHash: hash}, nil
		}
		switch {
		case o.del:
			return nil, nil
		case o.disable:
			u.Disabled = true
		case o.enable:
			u.Disabled = false
		default:
			u.NTHash = hash
		}
		return u, nil
	})
	if err != nil {
		return err
	}
	switch {
	case added:
		fmt.Fprintf(out, "Added user %s.\n", name)
	case o.del:
		fmt.Fprintf(out, "Deleted user %s.\n", name)
	case o.disable:
		fmt.Fprintf(out, "Disabled user %s.\n", name)
	case o.enable:
		fmt.Fprintf(out, "Enabled user %s.\n", name)
	}
	return nil
}

func notFound(errOut io.Writer, name string) error {
	fmt.Fprintf(errOut, "Failed to find entry for user %s.\n", name)
	return errReported
}

// newPassword reads the new password twice: with -s as two lines of
// standard input; otherwise, like Samba, from the terminal with prompts
// and without echo (from standard input with prompts when there is no
// terminal).
func newPassword(in io.Reader, errOut io.Writer, silent bool) (string, error) {
	var read func(prompt string) (string, error)
	if tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0); err == nil && !silent && isTerminal(tty) {
		defer tty.Close()
		read = func(prompt string) (string, error) {
			fmt.Fprint(tty, prompt)
			defer fmt.Fprintln(tty)
			return readNoEcho(tty)
		}
	} else {
		if err == nil {
			tty.Close()
		}
		br := bufio.NewReader(in)
		read = func(prompt string) (string, error) {
			if !silent {
				fmt.Fprint(errOut, prompt)
			}
			line, err := br.ReadString('\n')
			if errors.Is(err, io.EOF) && line != "" {
				err = nil
			}
			return strings.TrimRight(line, "\r\n"), err
		}
	}
	var pw [2]string
	for i, prompt := range []string{"New SMB password:", "Retype new SMB password:"} {
		var err error
		if pw[i], err = read(prompt); err != nil {
			fmt.Fprintln(errOut, "Unable to get new password.")
			return "", errReported
		}
	}
	if pw[0] != pw[1] {
		fmt.Fprintln(errOut, "Mismatch - password unchanged.")
		fmt.Fprintln(errOut, "Unable to get new password.")
		return "", errReported
	}
	return pw[0], nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// readNoEcho reads a line from the terminal f with echo turned off.
func readNoEcho(f *os.File) (string, error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", err
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	line, err := bufio.NewReader(f).ReadString('\n')
	if errors.Is(err, io.EOF) && line != "" {
		err = nil
	}
	return strings.TrimRight(line, "\r\n"), err
}
