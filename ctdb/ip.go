package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"gctdb/ctdbd/client"
	"gctdb/transportd/proto"
)

// Commands about public addresses, their interfaces and the client
// connections recorded for them (the failover service).
func ipCommands() []*command {
	return []*command{
		{name: "ip", args: "[all]", help: "show public ips", maxArgs: 1, check: checkIPArgs, run: runIP},
		{name: "ipinfo", args: "<ip>", help: "show public ip details", minArgs: 1, maxArgs: 1, check: checkAddrArg, run: runIPInfo},
		{name: "ifaces", help: "show interfaces", run: runIfaces},
		{name: "setifacelink", args: "<iface> up|down", help: "set interface link status", minArgs: 2, maxArgs: 2,
			check: checkSetifacelink, run: runSetifacelink},
		{name: "sync", help: "run ip reallocation (deprecated)", run: runIPReallocate},
		{name: "ipreallocate", help: "run ip reallocation", run: runIPReallocate},
		{name: "gratarp", args: "<ip> <interface>", help: "send a gratuitous arp", minArgs: 2, maxArgs: 2,
			check: checkAddrArg, run: runGratarp},
		{name: "tickle", args: "<srcip:port> <dstip:port>", help: "send a tcp tickle ack", maxArgs: 2,
			check: checkConnArgs("tickle"), run: runTickle},
		{name: "gettickles", args: "<ip> [<port>]", help: "get the list of tickles", minArgs: 1, maxArgs: 2,
			check: checkGettickles, run: runGettickles},
		{name: "addtickle", args: "<ip>:<port> <ip>:<port>", help: "add a tickle", maxArgs: 2, check: checkConnArgs("addtickle"),
			run: func(ctx context.Context, r *request) (view, error) { return runTickleChange(ctx, r, true) }},
		{name: "deltickle", args: "<ip>:<port> <ip>:<port>", help: "delete a tickle", maxArgs: 2, check: checkConnArgs("deltickle"),
			run: func(ctx context.Context, r *request) (view, error) { return runTickleChange(ctx, r, false) }},
		{name: "moveip", args: "<ip> <node>", help: "move an ip address to another node", minArgs: 2, maxArgs: 2,
			localOnly: true, check: checkMoveip, run: runMoveip},
		{name: "addip", args: "<ip/mask> <iface>", help: "add an ip address to a node", minArgs: 2, maxArgs: 2,
			check: checkAddip, run: runAddip},
		{name: "delip", args: "<ip>", help: "delete an ip address from a node", minArgs: 1, maxArgs: 1,
			check: checkAddrArg, run: runDelip},
		{name: "reloadips", args: "[all|<pnn-list>]", help: "reload the public addresses file", maxArgs: 1,
			localOnly: true, check: checkNodestatus, run: runReloadips},
	}
}

// parseAddr reads an address as CTDB's tools accept it.
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, failf("Invalid IP address %s", s)
	}
	return a.Unmap(), nil
}

// parseAddrPort reads "ip:port", "[ipv6]:port" or "ipv6:port" (the
// port after the last colon), as CTDB's tools accept it.
func parseAddrPort(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	i := strings.LastIndexByte(s, ':')
	if i > 0 {
		a, aerr := netip.ParseAddr(s[:i])
		p, perr := strconv.ParseUint(s[i+1:], 10, 16)
		if aerr == nil && perr == nil && a.Zone() == "" {
			return netip.AddrPortFrom(a.Unmap(), uint16(p)), nil
		}
	}
	return netip.AddrPort{}, failf("Invalid IP address %s", s)
}

// ipUsage is the usage error of one of this file's commands, for
// argument checks that find the arguments wrong.
func ipUsage(name string) error {
	for _, c := range ipCommands() {
		if c.name == name {
			return &usageError{cmd: c}
		}
	}
	return &usageError{}
}

func checkIPArgs(args []string) error {
	if len(args) == 1 && args[0] != "all" {
		return ipUsage("ip")
	}
	return nil
}

func checkAddrArg(args []string) error {
	_, err := parseAddr(args[0])
	return err
}

// sortIPs orders addresses as CTDB does: IPv4 before IPv6, then by
// address.
func sortIPs(ips []proto.PublicIP) {
	slices.SortFunc(ips, func(a, b proto.PublicIP) int { return a.Addr.Compare(b.Addr) })
}

// ipEntry is one public address in `ctdb ip`.
type ipEntry struct {
	Address string `json:"address"`
	// Node is the hosting node, -1 for none.
	Node int64 `json:"node"`
	// The interfaces are only there with -v.
	Active     *string  `json:"active_interface,omitempty"`
	Available  []string `json:"available_interfaces,omitempty"`
	Configured []string `json:"configured_interfaces,omitempty"`
}

// ipView is `ctdb ip [all] [-v]`.
type ipView struct {
	PNN     uint32    `json:"pnn"`
	All     bool      `json:"all"`
	IPs     []ipEntry `json:"ips"`
	verbose bool
}

func pnnField(pnn uint32) int64 {
	if pnn == proto.PNNUnknown {
		return -1
	}
	return int64(pnn)
}

func (v *ipView) writeText(w io.Writer) {
	if v.All {
		fmt.Fprintln(w, "Public IPs on ALL nodes")
	} else {
		fmt.Fprintf(w, "Public IPs on node %d\n", v.PNN)
	}
	for _, ip := range v.IPs {
		if !v.verbose {
			fmt.Fprintf(w, "%s %d\n", ip.Address, ip.Node)
			continue
		}
		fmt.Fprintf(w, "%s node[%d] active[%s] available[%s] configured[%s]\n", ip.Address, ip.Node,
			deref(ip.Active), strings.Join(ip.Available, ","), strings.Join(ip.Configured, ","))
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (v *ipView) table() table {
	t := table{header: []string{"Public IP", "Node"}}
	if v.verbose {
		t.header = append(t.header, "ActiveInterfaces", "AvailableInterfaces", "ConfiguredInterfaces")
	}
	for _, ip := range v.IPs {
		row := []string{ip.Address, strconv.FormatInt(ip.Node, 10)}
		if v.verbose {
			row = append(row, deref(ip.Active), strings.Join(ip.Available, ","), strings.Join(ip.Configured, ","))
		}
		t.rows = append(t.rows, row)
	}
	return t
}

// allPublicIPs merges the addresses of every active node as CTDB's `ip
// all` does: a node is believed about the addresses it hosts itself;
// others show -1 unless some node claims them.
func allPublicIPs(ctx context.Context, r *request) ([]proto.PublicIP, error) {
	nm, err := r.c.NodeMap(ctx, r.pnn)
	if err != nil {
		return nil, err
	}
	merged := make(map[netip.Addr]proto.PublicIP)
	for _, n := range nm.Nodes {
		if n.Flags&proto.NodeFlagsInactive != 0 {
			continue
		}
		l, err := r.c.PublicIPs(ctx, n.PNN)
		if err != nil {
			return nil, err
		}
		for _, ip := range l.IPs {
			if ip.PNN == n.PNN {
				merged[ip.Addr] = ip
			} else if _, ok := merged[ip.Addr]; !ok {
				ip.PNN = proto.PNNUnknown
				merged[ip.Addr] = ip
			}
		}
	}
	out := make([]proto.PublicIP, 0, len(merged))
	for _, ip := range merged {
		out = append(out, ip)
	}
	return out, nil
}

func runIP(ctx context.Context, r *request) (view, error) {
	all := len(r.args) == 1
	var ips []proto.PublicIP
	if all {
		var err error
		if ips, err = allPublicIPs(ctx, r); err != nil {
			return nil, err
		}
	} else {
		l, err := r.c.PublicIPs(ctx, r.pnn)
		if err != nil {
			return nil, err
		}
		ips = l.IPs
	}
	sortIPs(ips)
	v := &ipView{PNN: r.pnn, All: all, IPs: []ipEntry{}, verbose: r.x.opts.verbose}
	for _, ip := range ips {
		e := ipEntry{Address: ip.Addr.String(), Node: pnnField(ip.PNN)}
		infoFrom := r.pnn
		if all {
			infoFrom = ip.PNN
		}
		if v.verbose && infoFrom != proto.PNNUnknown {
			info, err := r.c.PublicIPInfo(ctx, infoFrom, ip.Addr)
			if err != nil {
				return nil, err
			}
			e.Active, e.Available, e.Configured = ifaceColumns(info)
		}
		v.IPs = append(v.IPs, e)
	}
	return v, nil
}

// ifaceColumns are the active, available and configured interfaces of
// an address.
func ifaceColumns(info *proto.PublicIPInfo) (active *string, available, configured []string) {
	active = new(string)
	available, configured = []string{}, []string{}
	for i, ifc := range info.Ifaces {
		configured = append(configured, ifc.Name)
		if uint32(i) == info.Active {
			*active = ifc.Name
		}
		if ifc.LinkUp {
			available = append(available, ifc.Name)
		}
	}
	return active, available, configured
}

// statusMessage is an answer CTDB prints on standard output instead of
// a result, with the exit status it returns.
type statusMessage struct {
	Message string `json:"message"`
	Status  int    `json:"status"`
}

func (v *statusMessage) writeText(w io.Writer) { fmt.Fprintln(w, v.Message) }
func (v *statusMessage) exitStatus() int       { return v.Status }

// ipinfoView is `ctdb ipinfo`.
type ipinfoView struct {
	PNN        uint32          `json:"pnn"`
	Address    string          `json:"address"`
	Node       int64           `json:"node"`
	Interfaces []ipinfoIfaceJS `json:"interfaces"`
	// current is CTDB's CurrentNode: the hosting node as an unsigned
	// number (4294967295 for none).
	current uint32
}

type ipinfoIfaceJS struct {
	Name       string `json:"name"`
	LinkUp     bool   `json:"link_up"`
	References uint32 `json:"references"`
	Active     bool   `json:"active"`
}

func (v *ipinfoView) writeText(w io.Writer) {
	fmt.Fprintf(w, "Public IP[%s] info on node %d\n", v.Address, v.PNN)
	fmt.Fprintf(w, "IP:%s\nCurrentNode:%d\nNumInterfaces:%d\n", v.Address, v.current, len(v.Interfaces))
	for i, ifc := range v.Interfaces {
		active := ""
		if ifc.Active {
			active = " (active)"
		}
		fmt.Fprintf(w, "Interface[%d]: Name:%s Link:%s References:%d%s\n", i+1, ifc.Name, upDown(ifc.LinkUp), ifc.References, active)
	}
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

func runIPInfo(ctx context.Context, r *request) (view, error) {
	addr, _ := parseAddr(r.args[0])
	info, err := r.c.PublicIPInfo(ctx, r.pnn, addr)
	if proto.StatusOf(err) == proto.StatusNotFound {
		return &statusMessage{Message: fmt.Sprintf("Node %d does not know about IP %s", r.pnn, r.args[0]), Status: exitFailure}, nil
	}
	if err != nil {
		return nil, err
	}
	v := &ipinfoView{PNN: r.pnn, Address: info.IP.Addr.String(), Node: pnnField(info.IP.PNN), current: info.IP.PNN, Interfaces: []ipinfoIfaceJS{}}
	for i, ifc := range info.Ifaces {
		v.Interfaces = append(v.Interfaces, ipinfoIfaceJS{Name: ifc.Name, LinkUp: ifc.LinkUp, References: ifc.References, Active: uint32(i) == info.Active})
	}
	return v, nil
}

// ifacesView is `ctdb ifaces`.
type ifacesView struct {
	PNN        uint32    `json:"pnn"`
	Interfaces []ifaceJS `json:"interfaces"`
}

type ifaceJS struct {
	Name       string `json:"name"`
	LinkUp     bool   `json:"link_up"`
	References uint32 `json:"references"`
}

func (v *ifacesView) writeText(w io.Writer) {
	fmt.Fprintf(w, "Interfaces on node %d\n", v.PNN)
	for _, i := range v.Interfaces {
		fmt.Fprintf(w, "name:%s link:%s references:%d\n", i.Name, upDown(i.LinkUp), i.References)
	}
}

func (v *ifacesView) table() table {
	t := table{header: []string{"Name", "LinkStatus", "References"}}
	for _, i := range v.Interfaces {
		t.rows = append(t.rows, []string{i.Name, boolField(i.LinkUp), strconv.FormatUint(uint64(i.References), 10)})
	}
	return t
}

func runIfaces(ctx context.Context, r *request) (view, error) {
	ifaces, err := r.c.Ifaces(ctx, r.pnn)
	if err != nil {
		return nil, err
	}
	if len(ifaces) == 0 && r.x.out.mode != modeJSON {
		// CTDB prints this line whatever the output mode.
		return &statusMessage{Message: fmt.Sprintf("No interfaces configured on node %d", r.pnn)}, nil
	}
	v := &ifacesView{PNN: r.pnn, Interfaces: []ifaceJS{}}
	for _, i := range ifaces {
		v.Interfaces = append(v.Interfaces, ifaceJS{Name: i.Name, LinkUp: i.LinkUp, References: i.References})
	}
	return v, nil
}

// ifacesPartiallyOnline is ctdb status's PARTIALLYONLINE: a public
// interface of the node is down.
func ifacesPartiallyOnline(ctx context.Context, c *client.Client, pnn uint32) (bool, error) {
	ifaces, err := c.Ifaces(ctx, pnn)
	if err != nil {
		return false, err
	}
	for _, i := range ifaces {
		if !i.LinkUp {
			return true, nil
		}
	}
	return false, nil
}

func checkSetifacelink(args []string) error {
	if len(args[0]) > proto.MaxIfaceName {
		return failf("Interface name '%s' too long", args[0])
	}
	if args[1] != "up" && args[1] != "down" {
		return ipUsage("setifacelink")
	}
	return nil
}

func runSetifacelink(ctx context.Context, r *request) (view, error) {
	ifaces, err := r.c.Ifaces(ctx, r.pnn)
	if err != nil {
		return nil, failf("Failed to get interface information from node %d", r.pnn)
	}
	if !slices.ContainsFunc(ifaces, func(i proto.Iface) bool { return i.Name == r.args[0] }) {
		return &statusMessage{Message: fmt.Sprintf("Interface %s not configured on node %d", r.args[0], r.pnn), Status: exitFailure}, nil
	}
	return nil, r.c.SetIfaceLink(ctx, r.pnn, r.args[0], r.args[1] == "up")
}

func runIPReallocate(ctx context.Context, r *request) (view, error) {
	return nil, r.c.IPReallocate(ctx)
}

func runGratarp(ctx context.Context, r *request) (view, error) {
	addr, _ := parseAddr(r.args[0])
	if err := r.c.SendGratArp(ctx, r.pnn, addr, r.args[1]); err != nil {
		return nil, failf("Unable to send gratuitous arp from node %d", r.pnn)
	}
	return nil, nil
}

// checkConnArgs accepts two connection ends or none (then they are read
// from standard input).
func checkConnArgs(name string) func([]string) error {
	return func(args []string) error {
		if len(args) == 1 {
			return ipUsage(name)
		}
		for _, a := range args {
			if _, err := parseAddrPort(a); err != nil {
				return err
			}
		}
		return nil
	}
}

// connections returns the connection of the arguments, or those read
// from standard input ("SRC DST" per line) when there are none.
func connections(args []string, stdin io.Reader) ([]proto.TCPConnection, error) {
	if len(args) == 2 {
		src, _ := parseAddrPort(args[0])
		dst, _ := parseAddrPort(args[1])
		return []proto.TCPConnection{{Client: src, Server: dst}}, nil
	}
	var out []proto.TCPConnection
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) != 2 {
			return nil, failf("Invalid connection %q", sc.Text())
		}
		src, err := parseAddrPort(f[0])
		if err != nil {
			return nil, err
		}
		dst, err := parseAddrPort(f[1])
		if err != nil {
			return nil, err
		}
		out = append(out, proto.TCPConnection{Client: src, Server: dst})
	}
	return out, sc.Err()
}

// runTickle sends tickle ACKs through the local daemon, which has the raw
// sockets (CTDB's tool sends them itself, so -n is refused as there).
func runTickle(ctx context.Context, r *request) (view, error) {
	if r.x.opts.node != "" {
		return nil, failf("Cannot specify node for command tickle")
	}
	conns, err := connections(r.args, os.Stdin)
	if err != nil {
		return nil, err
	}
	failed := 0
	for _, c := range conns {
		if err := r.c.SendTickle(ctx, c); err != nil {
			r.x.log.Debug("tickle failed", "conn", c, "err", err)
			failed++
		}
	}
	switch {
	case failed > 0 && len(r.args) == 2:
		return nil, failf("Failed to send tickle ack")
	case failed > 0:
		return nil, failf("Failed to send %d tickles", failed)
	}
	return nil, nil
}

func checkGettickles(args []string) error {
	if err := checkAddrArg(args); err != nil {
		return err
	}
	if len(args) == 2 {
		if _, err := strconv.ParseUint(args[1], 10, 16); err != nil {
			return &exitError{status: exitInvalid}
		}
	}
	return nil
}

// tickleView is `ctdb gettickles`.
type tickleView struct {
	Address     string     `json:"address"`
	Connections []tickleJS `json:"connections"`
}

type tickleJS struct {
	Client string `json:"client"`
	Server string `json:"server"`
}

func (v *tickleView) writeText(w io.Writer) {
	fmt.Fprintf(w, "Connections for IP: %s\nNum connections: %d\n", v.Address, len(v.Connections))
	for _, c := range v.Connections {
		fmt.Fprintf(w, "SRC: %s   DST: %s\n", c.Client, c.Server)
	}
}

// table keeps CTDB's misspelt header.
func (v *tickleView) table() table {
	t := table{header: []string{"Source IP", "Port", "Destiation IP", "Port"}}
	for _, c := range v.Connections {
		src, _ := netip.ParseAddrPort(c.Client)
		dst, _ := netip.ParseAddrPort(c.Server)
		t.rows = append(t.rows, []string{src.Addr().String(), strconv.Itoa(int(src.Port())), dst.Addr().String(), strconv.Itoa(int(dst.Port()))})
	}
	return t
}

func runGettickles(ctx context.Context, r *request) (view, error) {
	addr, _ := parseAddr(r.args[0])
	var port uint64
	if len(r.args) == 2 {
		port, _ = strconv.ParseUint(r.args[1], 10, 16)
	}
	l, err := r.c.Tickles(ctx, r.pnn, addr, uint16(port))
	if err != nil {
		r.x.log.Debug("gettickles failed", "err", err)
		return nil, failf("Failed to get list of connections")
	}
	v := &tickleView{Address: l.Addr.String(), Connections: []tickleJS{}}
	for _, c := range l.Conns {
		v.Connections = append(v.Connections, tickleJS{Client: c.Client.String(), Server: c.Server.String()})
	}
	return v, nil
}

func runTickleChange(ctx context.Context, r *request, add bool) (view, error) {
	conns, err := connections(r.args, os.Stdin)
	if err != nil {
		return nil, err
	}
	failed := 0
	for _, c := range conns {
		if add {
			err = r.c.AddTickle(ctx, r.pnn, c)
		} else {
			err = r.c.DelTickle(ctx, r.pnn, c)
		}
		if err != nil {
			r.x.log.Debug("tickle change failed", "conn", c, "err", err)
			failed++
		}
	}
	switch {
	case failed == 0:
		return nil, nil
	case len(r.args) == 2 && add:
		return nil, failf("Failed to register connection")
	case len(r.args) == 2:
		return nil, failf("Failed to unregister connection")
	case add:
		return nil, failf("Failed to add %d tickles", failed)
	}
	return nil, failf("Failed to remove %d tickles", failed)
}

func checkMoveip(args []string) error {
	if _, err := parseAddr(args[0]); err != nil {
		return err
	}
	if p, err := strconv.ParseUint(args[1], 10, 32); err != nil || uint32(p) == proto.PNNUnknown {
		return failf("Invalid PNN %s", args[1])
	}
	return nil
}

func runMoveip(ctx context.Context, r *request) (view, error) {
	addr, _ := parseAddr(r.args[0])
	to, _ := strconv.ParseUint(r.args[1], 10, 32)
	err := r.c.MoveIP(ctx, addr, uint32(to))
	switch {
	case err == nil:
		return nil, nil
	case proto.StatusOf(err) == proto.StatusBusy:
		return nil, failf("Node %d CANNOT host IP address %s\nFailed to move IP %s to node %d", to, addr, r.args[0], to)
	}
	r.x.log.Debug("moveip failed", "err", err)
	return nil, failf("Failed to move IP %s to node %d", r.args[0], to)
}

func checkAddip(args []string) error {
	p, err := netip.ParsePrefix(args[0])
	if err != nil || p.Addr().Zone() != "" {
		return failf("Invalid IP/Mask %s", args[0])
	}
	if len(args[1]) > proto.MaxIfaceName || args[1] == "" {
		return failf("Invalid interface %s", args[1])
	}
	return nil
}

func runAddip(ctx context.Context, r *request) (view, error) {
	p, _ := netip.ParsePrefix(r.args[0])
	p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits())
	l, err := r.c.PublicIPs(ctx, r.pnn)
	if err != nil {
		return nil, failf("Failed to get Public IPs from node %d", r.pnn)
	}
	if slices.ContainsFunc(l.IPs, func(ip proto.PublicIP) bool { return ip.Addr == p.Addr() }) {
		fmt.Fprintf(r.x.stderr, "Node already knows about IP %s\n", p.Addr())
		return nil, nil
	}
	if err := r.c.AddPublicIP(ctx, r.pnn, p, strings.Split(r.args[1], ",")); err != nil {
		r.x.log.Debug("addip failed", "err", err)
		return nil, failf("Failed to add public IP to node %d. Giving up", r.pnn)
	}
	return nil, nil
}

func runDelip(ctx context.Context, r *request) (view, error) {
	addr, _ := parseAddr(r.args[0])
	l, err := r.c.PublicIPs(ctx, r.pnn)
	if err != nil {
		return nil, failf("Failed to get Public IPs from node %d", r.pnn)
	}
	if !slices.ContainsFunc(l.IPs, func(ip proto.PublicIP) bool { return ip.Addr == addr }) {
		fmt.Fprintf(r.x.stderr, "Node does not know about IP address %s\n", addr)
		return nil, nil
	}
	if err := r.c.DelPublicIP(ctx, r.pnn, addr); err != nil {
		r.x.log.Debug("delip failed", "err", err)
		return nil, failf("Failed to delete public IP from node %d", r.pnn)
	}
	return nil, nil
}

// runReloadips reloads public_addresses on the nodes named (this one by
// default) that are active, then runs a takeover.
func runReloadips(ctx context.Context, r *request) (view, error) {
	nm, err := r.c.NodeMap(ctx, client.Local)
	if err != nil {
		return nil, err
	}
	var pnns []uint32
	switch {
	case len(r.args) == 0:
		pnns = []uint32{r.self}
	case r.args[0] == "all":
		for _, n := range nm.Nodes {
			pnns = append(pnns, n.PNN)
		}
	default:
		pnns, _ = parsePNNList(r.args[0])
	}
	failed := false
	for _, pnn := range pnns {
		if int(pnn) >= len(nm.Nodes) {
			return nil, failf("Node %d does not exist", pnn)
		}
		if nm.Nodes[pnn].Flags&proto.NodeFlagsInactive != 0 {
			continue
		}
		if err := r.c.ReloadIPs(ctx, pnn); err != nil {
			r.x.log.Debug("reloadips failed", "pnn", pnn, "err", err)
			failed = true
		}
	}
	if failed {
		fmt.Fprintln(r.x.stderr, "Failed to reload IPs on some nodes.")
	}
	return nil, r.c.IPReallocate(ctx)
}
