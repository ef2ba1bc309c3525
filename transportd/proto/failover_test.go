package proto

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// failoverPayloadCases are the failover and event families' payloads;
// payloadCases runs them through the round-trip, golden and truncation
// tests, and the fuzz targets below fuzz each.
func failoverPayloadCases() []payloadCase {
	v4 := netip.MustParseAddr("192.168.100.1")
	v6 := netip.MustParseAddr("fc00:10::1:2")
	conn := TCPConnection{Client: netip.MustParseAddrPort("10.0.0.9:40123"), Server: netip.AddrPortFrom(v4, 445)}
	return []payloadCase{
		{"ip_addr", &IPAddr{Addr: v6}, func() Payload { return &IPAddr{} }},
		{"ip_addr_port", &IPAddrPort{Addr: v4, Port: 445}, func() Payload { return &IPAddrPort{} }},
		{"public_ip_list", &PublicIPList{CanHost: true, IPs: []PublicIP{
			{Addr: v4, Bits: 24, PNN: 2, Available: true},
			{Addr: v6, Bits: 64, PNN: PNNUnknown},
		}}, func() Payload { return &PublicIPList{} }},
		{"iface_list", &IfaceList{Ifaces: []Iface{{Name: "eth0", LinkUp: true, References: 2}, {Name: "eth1"}}}, func() Payload { return &IfaceList{} }},
		{"public_ip_info", &PublicIPInfo{
			IP:     PublicIP{Addr: v4, Bits: 24, PNN: 0, Available: true},
			Active: 1,
			Ifaces: []Iface{{Name: "eth0"}, {Name: "eth1", LinkUp: true, References: 1}},
		}, func() Payload { return &PublicIPInfo{} }},
		{"iface_link", &IfaceLink{Name: "eth0", Up: true}, func() Payload { return &IfaceLink{} }},
		{"ip_assignment", &IPAssignment{Addr: v4, PNN: 1, Term: 7}, func() Payload { return &IPAssignment{} }},
		{"public_address", &PublicAddress{Addr: v4, Bits: 24, Ifaces: []string{"eth0", "eth1"}}, func() Payload { return &PublicAddress{} }},
		{"takeover_request", &TakeoverRequest{From: 2, Rebalance: []uint32{1, 2}}, func() Payload { return &TakeoverRequest{} }},
		{"tcp_connection", &conn, func() Payload { return &TCPConnection{} }},
		{"tickle_list", &TickleList{Addr: v4, Conns: []TCPConnection{conn}}, func() Payload { return &TickleList{} }},
		{"addr_iface", &AddrIface{Addr: v4, Iface: "eth0"}, func() Payload { return &AddrIface{} }},
		{"event_run", &EventRun{Component: "legacy", Event: "takeip", Args: []string{"eth0", "192.168.100.1", "24"}, Timeout: 30 * time.Second}, func() Payload { return &EventRun{} }},
		{"event_query", &EventQuery{Component: "legacy", Event: "monitor"}, func() Payload { return &EventQuery{} }},
		{"event_result", &EventResult{
			Event: "monitor", Start: 1700000000000000000, Duration: 12 * time.Millisecond,
			Result: EventResultFailed, Summary: 1,
			Scripts: []ScriptResult{
				{Name: "00.ctdb", Status: ScriptOK, Start: 1700000000000000000, Duration: 2 * time.Millisecond},
				{Name: "10.interface", Status: ScriptError, ExitCode: 1, Start: 1700000000002000000, Duration: 9 * time.Millisecond, Output: "ERROR: No link on the public network interface eth0\n"},
			},
		}, func() Payload { return &EventResult{} }},
		{"script_list", &ScriptList{Scripts: []ScriptInfo{{"00.ctdb", true}, {"10.interface", false}}}, func() Payload { return &ScriptList{} }},
		{"script_change", &ScriptChange{Component: "legacy", Script: "10.interface", Enable: true}, func() Payload { return &ScriptChange{} }},
	}
}

func TestFailoverPayloadValidation(t *testing.T) {
	v4 := netip.MustParseAddr("10.1.2.3")
	bad := []struct {
		name string
		enc  []byte
		into Payload
	}{
		{"unknown family", []byte{5, 1, 2, 3, 4}, &IPAddr{}},
		{"no address", Marshal(&IPAddr{}), &IPAddr{}},
		{"mask too long", Marshal(&PublicIP{Addr: v4, Bits: 33}), &PublicIP{}},
		{"active out of range", Marshal(&PublicIPInfo{IP: PublicIP{Addr: v4}, Active: 1, Ifaces: []Iface{{Name: "eth0"}}}), &PublicIPInfo{}},
		{"empty interface name", Marshal(&IfaceList{Ifaces: []Iface{{}}}), &IfaceList{}},
		{"address without interfaces", Marshal(&PublicAddress{Addr: v4, Bits: 8}), &PublicAddress{}},
		{"port without address", AppendU16(AppendAddr(AppendAddrPort(nil, netip.MustParseAddrPort("1.2.3.4:5")), netip.Addr{}), 80), &TCPConnection{}},
		{"negative timeout", Marshal(&EventRun{Event: "monitor", Timeout: -1}), &EventRun{}},
		{"unknown script status", Marshal(&ScriptResult{Status: 9}), &ScriptResult{}},
	}
	for _, tc := range bad {
		assert.ErrorIs(t, Unmarshal(tc.enc, tc.into), ErrMalformed, tc.name)
	}
	// Too many event arguments for the limit.
	many := make([]string, MaxEventArgs+1)
	assert.ErrorIs(t, Unmarshal(Marshal(&EventRun{Args: many}), &EventRun{}), ErrTooLarge)
	// A mapped IPv4 address stays IPv6 on the wire.
	mapped := netip.MustParseAddr("::ffff:10.1.2.3")
	var got IPAddr
	assert.NoError(t, Unmarshal(Marshal(&IPAddr{Addr: mapped}), &got))
	assert.Equal(t, mapped, got.Addr)
}

func TestFailoverNames(t *testing.T) {
	assert.Equal(t, "takeover_ip", OpTakeIP.String())
	assert.Equal(t, "event_status", OpEventStatus.String())
	for op := range failoverOpcodeNames {
		assert.Equal(t, FamilyFailover, op.Family())
	}
	for op := range eventOpcodeNames {
		assert.Equal(t, FamilyEvent, op.Family())
	}
}

func FuzzIPAddr(f *testing.F)          { fuzzPayload(f, "ip_addr") }
func FuzzIPAddrPort(f *testing.F)      { fuzzPayload(f, "ip_addr_port") }
func FuzzPublicIPList(f *testing.F)    { fuzzPayload(f, "public_ip_list") }
func FuzzIfaceList(f *testing.F)       { fuzzPayload(f, "iface_list") }
func FuzzPublicIPInfo(f *testing.F)    { fuzzPayload(f, "public_ip_info") }
func FuzzIfaceLink(f *testing.F)       { fuzzPayload(f, "iface_link") }
func FuzzIPAssignment(f *testing.F)    { fuzzPayload(f, "ip_assignment") }
func FuzzPublicAddress(f *testing.F)   { fuzzPayload(f, "public_address") }
func FuzzTakeoverRequest(f *testing.F) { fuzzPayload(f, "takeover_request") }
func FuzzTCPConnection(f *testing.F)   { fuzzPayload(f, "tcp_connection") }
func FuzzTickleList(f *testing.F)      { fuzzPayload(f, "tickle_list") }
func FuzzAddrIface(f *testing.F)       { fuzzPayload(f, "addr_iface") }
func FuzzEventRun(f *testing.F)        { fuzzPayload(f, "event_run") }
func FuzzEventQuery(f *testing.F)      { fuzzPayload(f, "event_query") }
func FuzzEventResult(f *testing.F)     { fuzzPayload(f, "event_result") }
func FuzzScriptList(f *testing.F)      { fuzzPayload(f, "script_list") }
func FuzzScriptChange(f *testing.F)    { fuzzPayload(f, "script_change") }
