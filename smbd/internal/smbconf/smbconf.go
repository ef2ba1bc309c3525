// Package smbconf reads smbd's smb.conf-style configuration. It accepts
// Samba's option names for what smbd supports and rejects every other
// option with its file and line, instead of silently ignoring it.
package smbconf

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"gctdb/smbd/internal/server"
	"gctdb/smbd/internal/wire"
)

// ErrConfig wraps every configuration error.
var ErrConfig = errors.New("smbconf")

// Config is the parsed configuration.
type Config struct {
	Interfaces         []string
	BindInterfacesOnly bool
	Ports              []int
	MinProtocol        uint16
	MaxProtocol        uint16
	SigningRequired    bool
	Encrypt            int
	LogLevel           int
	NetbiosName        string
	Workgroup          string
	ServerGUID         [16]byte
	HaveGUID           bool
	PIDDirectory       string // where smbd.pid goes ("pid directory")
	LogFile            string // "log file"; empty: standard error
	Shares             []server.ShareConfig
}

// Listen returns the addresses to listen on.
func (c *Config) Listen() ([]string, error) {
	var hosts []string
	if c.BindInterfacesOnly && len(c.Interfaces) > 0 {
		for _, itf := range c.Interfaces {
			ips, err := resolveInterface(itf)
			if err != nil {
				return nil, err
			}
			hosts = append(hosts, ips...)
		}
	} else {
		hosts = []string{""}
	}
	var out []string
	for _, h := range hosts {
		for _, p := range c.Ports {
			out = append(out, net.JoinHostPort(h, strconv.Itoa(p)))
		}
	}
	return out, nil
}

func resolveInterface(s string) ([]string, error) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	if ip := net.ParseIP(s); ip != nil {
		return []string{ip.String()}, nil
	}
	itf, err := net.InterfaceByName(s)
	if err != nil {
		return nil, fmt.Errorf("%w: interfaces: %q is neither an address nor an interface", ErrConfig, s)
	}
	addrs, err := itf.Addrs()
	if err != nil {
		return nil, fmt.Errorf("%w: interface %s: %v", ErrConfig, s, err)
	}
	var out []string
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			out = append(out, ipn.IP.String())
		}
	}
	return out, nil
}

// Load reads a configuration file.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	defer f.Close()
	return Parse(f, path)
}

func defaults() *Config {
	return &Config{
		Ports:        []int{445},
		MinProtocol:  wire.Dialect202,
		MaxProtocol:  wire.Dialect311,
		Encrypt:      server.EncryptOff,
		NetbiosName:  "GCTDB",
		Workgroup:    "WORKGROUP",
		PIDDirectory: "/run/gctdb",
	}
}

func newShare(name string) server.ShareConfig {
	return server.ShareConfig{Name: name, ReadOnly: true, Browseable: true, Encrypt: server.EncryptOff}
}

// Parse reads a configuration from r; name is used in error messages.
func Parse(r io.Reader, name string) (*Config, error) {
	c := defaults()
	sc := bufio.NewScanner(r)
	section := ""
	var cur *server.ShareConfig
	line := 0
	var cont string
	flush := func() {
		if cur != nil {
			c.Shares = append(c.Shares, *cur)
			cur = nil
		}
	}
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if strings.HasSuffix(text, "\\") {
			cont += strings.TrimSuffix(text, "\\") + " "
			continue
		}
		text, cont = strings.TrimSpace(cont+text), ""
		if text == "" || text[0] == '#' || text[0] == ';' {
			continue
		}
		errf := func(format string, args ...any) error {
			return fmt.Errorf("%w: %s:%d: %s", ErrConfig, name, line, fmt.Sprintf(format, args...))
		}
		if text[0] == '[' {
			if !strings.HasSuffix(text, "]") {
				return nil, errf("bad section header %q", text)
			}
			flush()
			section = strings.TrimSpace(text[1 : len(text)-1])
			if section == "" {
				return nil, errf("empty section name")
			}
			switch strings.ToLower(section) {
			case "global":
			case "ipc$", "homes", "printers":
				return nil, errf("section [%s] is not supported", section)
			default:
				for _, s := range c.Shares {
					if strings.EqualFold(s.Name, section) {
						return nil, errf("duplicate share [%s]", section)
					}
				}
				sh := newShare(section)
				cur = &sh
			}
			continue
		}
		k, v, ok := strings.Cut(text, "=")
		if !ok {
			return nil, errf("expected \"option = value\", got %q", text)
		}
		key := strings.Join(strings.Fields(strings.ToLower(k)), " ")
		val := strings.TrimSpace(v)
		var err error
		switch {
		case section == "":
			err = fmt.Errorf("option %q outside a section", key)
		case cur == nil:
			err = c.setGlobal(key, val)
		default:
			err = setShare(cur, key, val)
		}
		if err != nil {
			return nil, errf("%v", err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrConfig, name, err)
	}
	flush()
	for _, s := range c.Shares {
		if s.Path == "" {
			return nil, fmt.Errorf("%w: %s: share [%s] has no path", ErrConfig, name, s.Name)
		}
	}
	if c.MinProtocol > c.MaxProtocol {
		return nil, fmt.Errorf("%w: %s: server min protocol is above server max protocol", ErrConfig, name)
	}
	return c, nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "yes", "true", "1", "on":
		return true, nil
	case "no", "false", "0", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", v)
}

func parseProtocol(v string) (uint16, error) {
	switch strings.ToUpper(v) {
	case "SMB2", "SMB2_02":
		return wire.Dialect202, nil
	case "SMB2_10":
		return wire.Dialect210, nil
	case "SMB3_00":
		return wire.Dialect300, nil
	case "SMB3_02":
		return wire.Dialect302, nil
	case "SMB3", "SMB3_11", "DEFAULT":
		return wire.Dialect311, nil
	}
	return 0, fmt.Errorf("protocol %q is not supported (SMB2_02 to SMB3_11)", v)
}

func parseEncrypt(v string) (int, error) {
	switch strings.ToLower(v) {
	case "off", "no", "false", "disabled":
		return server.EncryptOff, nil
	case "if_required", "desired", "auto", "default", "enabled":
		return server.EncryptDesired, nil
	case "required", "mandatory", "forced", "yes", "true":
		return server.EncryptRequired, nil
	}
	return 0, fmt.Errorf("%q is not an smb encrypt value", v)
}

func list(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
}

func (c *Config) setGlobal(key, val string) error {
	var err error
	switch key {
	case "interfaces":
		c.Interfaces = list(val)
	case "bind interfaces only":
		c.BindInterfacesOnly, err = parseBool(val)
	case "smb ports":
		c.Ports = nil
		for _, p := range list(val) {
			n, perr := strconv.Atoi(p)
			if perr != nil || n <= 0 || n > 65535 {
				return fmt.Errorf("smb ports: %q is not a port", p)
			}
			if n == 139 {
				return fmt.Errorf("smb ports: 139 (NetBIOS session service) is not supported")
			}
			c.Ports = append(c.Ports, n)
		}
	case "server min protocol":
		c.MinProtocol, err = parseProtocol(val)
	case "server max protocol":
		c.MaxProtocol, err = parseProtocol(val)
	case "server signing":
		switch strings.ToLower(val) {
		case "auto", "default", "if_required", "disabled", "off", "no":
			c.SigningRequired = false
		case "mandatory", "required", "yes", "on":
			c.SigningRequired = true
		default:
			err = fmt.Errorf("server signing: %q is not auto or mandatory", val)
		}
	case "server smb encrypt", "smb encrypt":
		c.Encrypt, err = parseEncrypt(val)
	case "log level", "debuglevel":
		f := list(val)
		if len(f) == 0 {
			return fmt.Errorf("log level: empty")
		}
		c.LogLevel, err = strconv.Atoi(f[0])
	case "netbios name":
		c.NetbiosName = strings.ToUpper(val)
	case "workgroup":
		c.Workgroup = strings.ToUpper(val)
	case "server guid", "gctdb:server guid":
		c.ServerGUID, err = parseGUID(val)
		c.HaveGUID = err == nil
	case "pid directory":
		c.PIDDirectory = val
	case "log file":
		c.LogFile = val
	default:
		return fmt.Errorf("unsupported option %q in [global]", key)
	}
	return err
}

// parseGUID reads a GUID in its text form into the [MS-DTYP] wire order
// (first three fields little-endian).
func parseGUID(s string) ([16]byte, error) {
	var g [16]byte
	h := strings.ReplaceAll(strings.Trim(s, "{}"), "-", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 16 || strings.Count(s, "-") != 4 {
		return g, fmt.Errorf("server guid: %q is not a GUID", s)
	}
	g[0], g[1], g[2], g[3] = b[3], b[2], b[1], b[0]
	g[4], g[5] = b[5], b[4]
	g[6], g[7] = b[7], b[6]
	copy(g[8:], b[8:])
	return g, nil
}

func setShare(s *server.ShareConfig, key, val string) error {
	var err error
	switch key {
	case "path":
		if !strings.HasPrefix(val, "/") {
			return fmt.Errorf("path %q must be absolute", val)
		}
		s.Path = val
	case "read only":
		s.ReadOnly, err = parseBool(val)
	case "writeable", "writable", "write ok":
		var w bool
		w, err = parseBool(val)
		s.ReadOnly = !w
	case "guest ok", "public":
		s.GuestOK, err = parseBool(val)
	case "valid users":
		s.ValidUsers = list(val)
	case "browseable", "browsable":
		s.Browseable, err = parseBool(val)
	case "smb encrypt", "server smb encrypt":
		s.Encrypt, err = parseEncrypt(val)
	case "comment":
		s.Comment = val
	default:
		return fmt.Errorf("unsupported option %q in share [%s]", key, s.Name)
	}
	return err
}
