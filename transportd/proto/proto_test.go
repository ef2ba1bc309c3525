package proto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden vectors in testdata/golden")

// payloadCase is one representative value of a payload type, with a
// constructor of an empty value to decode into.
type payloadCase struct {
	name  string
	value Payload
	fresh func() Payload
}

func payloadCases() []payloadCase {
	cases := append(basePayloadCases(), databasePayloadCases()...)
	cases = append(cases, recoveryPayloadCases()...)
	cases = append(cases, vacuumPayloadCases()...)
	cases = append(cases, clusterPayloadCases()...)
	return append(cases, failoverPayloadCases()...)
}

func basePayloadCases() []payloadCase {
	return []payloadCase{
		{"hello", &Hello{MinVersion: 1, MaxVersion: 3, Role: RoleService, PNN: 2, Name: "gctdb ctdbd", Services: []ServiceID{ServiceNode, ServiceCluster}}, func() Payload { return &Hello{} }},
		{"hello_accept", &HelloAccept{Version: 1, PNN: 7, ConnID: 0x1122334455667788, Name: "transportd"}, func() Payload { return &HelloAccept{} }},
		{"hello_reject", &HelloReject{MinVersion: 1, MaxVersion: 1, Reason: "no common version"}, func() Payload { return &HelloReject{} }},
		{"srvid", &SrvID{SrvID: 0xF7C0000000000001}, func() Payload { return &SrvID{} }},
		{"service_list", &ServiceList{Services: []ServiceID{ServiceNode, ServiceDatabase}}, func() Payload { return &ServiceList{} }},
		{"link_status", &LinkStatus{PNN: 3, Up: true, Reason: "connected"}, func() Payload { return &LinkStatus{} }},
		{"client_count", &ClientCount{Count: 9}, func() Payload { return &ClientCount{} }},
		{"transport_stats", &TransportStats{Peers: []PeerStats{{PNN: 1, Addr: "127.0.0.2:4379", Up: true, FramesSent: 10, FramesRecv: 11, BytesSent: 1000, BytesRecv: 1100, Dropped: 2, Queued: 3, Reconnects: 4}}, Clients: 2, ClientFramesSent: 5, ClientFramesRecv: 6, BadConnections: 7, UndeliverableMsgs: 8, Goroutines: 9}, func() Payload { return &TransportStats{} }},
		{"process_exists", &ProcessExists{PID: 4242, SrvID: 99}, func() Payload { return &ProcessExists{} }},
		{"client_gone", &ClientGone{ConnID: 12, PID: 4242}, func() Payload { return &ClientGone{} }},
		{"u32", &U32{V: 0xdeadbeef}, func() Payload { return &U32{} }},
		{"blob", &Blob{Data: []byte("payload bytes")}, func() Payload { return &Blob{} }},
		{"reply", &Reply{Status: StatusNotFound, Msg: "no such database", Body: []byte{1, 2, 3}}, func() Payload { return &Reply{} }},
		{"ping_reply", &PingReply{NumClients: 2}, func() Payload { return &PingReply{} }},
		{"uptime", &Uptime{Now: 1700000000000000000, Start: 1690000000000000000, LastRecoveryStarted: 1695000000000000000, LastRecoveryFinished: 1695000000100000000}, func() Payload { return &Uptime{} }},
		{"recovery_times", &RecoveryTimes{Started: 5, Finished: 6}, func() Payload { return &RecoveryTimes{} }},
		{"nodemap", &NodeMap{Nodes: []NodeInfo{{PNN: 0, Addr: "127.0.0.1", Flags: 0, Caps: CapLeader | CapLMaster}, {PNN: 1, Addr: "fd00::5357:5f02", Flags: NodeFlagDisconnected}}}, func() Payload { return &NodeMap{} }},
		{"tunable", &Tunable{Name: "MonitorInterval", Value: 15}, func() Payload { return &Tunable{} }},
		{"name", &Name{Name: "NOTICE"}, func() Payload { return &Name{} }},
		{"tunable_list", &TunableList{Tunables: []Tunable{{"SeqnumInterval", 1000}, {"ControlTimeout", 60}}}, func() Payload { return &TunableList{} }},
		{"statistics", &Statistics{Start: 1, Now: 2, Counters: []Counter{{"num_clients", 2}, {"node.req_control", 585}}, Latencies: []Latency{{Name: "call_latency", Count: 4, Min: 0.000009, Max: 0.000413, Total: 0.000732}}}, func() Payload { return &Statistics{} }},
		{"modify_flags", &ModifyFlags{Set: NodeFlagStopped, Clear: NodeFlagPermanentlyDisabled}, func() Payload { return &ModifyFlags{} }},
		{"node_flags", &NodeFlags{PNN: 1, Flags: NodeFlagBanned, OldFlags: 0, Caps: CapLMaster, Runstate: RunstateRunning}, func() Payload { return &NodeFlags{} }},
		{"capabilities", &Capabilities{Set: CapLeader, Clear: CapLMaster}, func() Payload { return &Capabilities{} }},
		{"connectivity", &Connectivity{Peers: []PeerState{{PNN: 1, Connected: true, LinkUp: true, Alive: true, Since: 77}}}, func() Payload { return &Connectivity{} }},
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	for _, tc := range payloadCases() {
		t.Run(tc.name, func(t *testing.T) {
			enc := Marshal(tc.value)
			got := tc.fresh()
			require.NoError(t, Unmarshal(enc, got))
			assert.Equal(t, tc.value, got)
			assert.Equal(t, enc, Marshal(got), "re-encoding must give the same bytes")
		})
	}
}

// TestPayloadGolden pins the bytes of every payload so the format cannot
// drift silently. Run with -update after an intended format change (and
// bump PayloadVersion or the protocol version).
func TestPayloadGolden(t *testing.T) {
	for _, tc := range payloadCases() {
		t.Run(tc.name, func(t *testing.T) {
			checkGolden(t, tc.name, Marshal(tc.value))
		})
	}
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".hex")
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(hex.EncodeToString(got)+"\n"), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden vector; run go test -update")
	assert.Equal(t, strings.TrimSpace(string(want)), hex.EncodeToString(got))
}

func TestPayloadRejectsTruncation(t *testing.T) {
	for _, tc := range payloadCases() {
		enc := Marshal(tc.value)
		for n := 0; n < len(enc); n++ {
			got := tc.fresh()
			err := Unmarshal(enc[:n], got)
			if tc.name == "blob" || tc.name == "reply" && n >= 8+len("no such database") {
				continue // the tail of these is the rest of the buffer
			}
			assert.Error(t, err, "%s truncated to %d of %d bytes", tc.name, n, len(enc))
		}
	}
}

func TestPayloadTrailingBytes(t *testing.T) {
	enc := Marshal(&PingReply{NumClients: 1})
	enc = append(enc, 0xAA)
	assert.ErrorIs(t, Unmarshal(enc, &PingReply{}), ErrTrailing)

	// A newer payload version may append fields; they are skipped.
	m := &Message{Header: Header{Opcode: OpPing, PayloadVersion: PayloadVersion + 1}, Payload: enc}
	var p PingReply
	require.NoError(t, DecodePayload(m, &p))
	assert.Equal(t, uint32(1), p.NumClients)
}

func TestHostileCountsDoNotAllocate(t *testing.T) {
	// A node map claiming 2^32-1 entries in a 4-byte payload.
	b := AppendU32(nil, 0xFFFFFFFF)
	assert.ErrorIs(t, Unmarshal(b, &NodeMap{}), ErrShort)
	// A blob longer than its limit.
	b = AppendU32(nil, MaxName+1)
	assert.ErrorIs(t, Unmarshal(b, &Name{}), ErrTooLarge)
}

func TestHelloValidation(t *testing.T) {
	bad := []Hello{
		{MinVersion: 2, MaxVersion: 1, Role: RoleNode},
		{MinVersion: 1, MaxVersion: 1, Role: 0},
		{MinVersion: 1, MaxVersion: 1, Role: 9},
	}
	for _, h := range bad {
		assert.ErrorIs(t, Unmarshal(Marshal(&h), &Hello{}), ErrMalformed)
	}
}

func TestNegotiateVersion(t *testing.T) {
	tests := []struct {
		aMin, aMax, bMin, bMax uint16
		want                   uint16
		ok                     bool
	}{
		{1, 1, 1, 1, 1, true},
		{1, 3, 2, 5, 3, true},
		{2, 5, 1, 3, 3, true},
		{1, 1, 2, 2, 0, false},
		{3, 4, 1, 2, 0, false},
	}
	for _, tc := range tests {
		got, ok := NegotiateVersion(tc.aMin, tc.aMax, tc.bMin, tc.bMax)
		assert.Equal(t, tc.ok, ok)
		assert.Equal(t, tc.want, got)
	}
}

func sampleMessage() *Message {
	return &Message{
		Header: Header{
			ProtocolVersion: 1,
			Dst:             Endpoint{PNN: 2, Service: ServiceNode, ID: 0},
			Src:             Endpoint{PNN: 0, Service: ServiceClient, ID: 17},
			Flags:           FlagRequest,
			ReqID:           42,
			Opcode:          OpGetTunable,
		},
		Payload: Marshal(&Name{Name: "MonitorInterval"}),
	}
}

func TestFrameGolden(t *testing.T) {
	frame := sampleMessage().Encode()
	require.Len(t, frame, HeaderSize+4+len("MonitorInterval"))
	checkGolden(t, "frame_get_tunable", frame)

	m, err := DecodeFrame(frame, MaxFrameSize)
	require.NoError(t, err)
	assert.Equal(t, uint32(len(frame)), m.Length)
	assert.Equal(t, Magic, m.Magic)
	assert.Equal(t, PayloadVersion, m.PayloadVersion)
	assert.Equal(t, OpGetTunable, m.Opcode)
	assert.Equal(t, Endpoint{PNN: 0, Service: ServiceClient, ID: 17}, m.Src)
	var n Name
	require.NoError(t, DecodePayload(m, &n))
	assert.Equal(t, "MonitorInterval", n.Name)
}

func TestFrameValidation(t *testing.T) {
	good := sampleMessage().Encode()
	mutate := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	tests := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"short", good[:HeaderSize-1], ErrShort},
		{"bad magic", mutate(func(b []byte) { b[4] ^= 0xFF }), ErrMalformed},
		{"length below header", mutate(func(b []byte) { copy(b, AppendU32(nil, 10)) }), ErrMalformed},
		{"length beyond limit", mutate(func(b []byte) { copy(b, AppendU32(nil, MaxFrameSize+1)) }), ErrTooLarge},
		{"length mismatch", mutate(func(b []byte) { copy(b, AppendU32(nil, uint32(len(good)+1))) }), ErrMalformed},
		{"unknown flag", mutate(func(b []byte) { copy(b[44:], AppendU32(nil, 0x80)) }), ErrMalformed},
		{"request and reply", mutate(func(b []byte) { copy(b[44:], AppendU32(nil, FlagRequest|FlagReply)) }), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeFrame(tc.frame, MaxFrameSize)
			assert.ErrorIs(t, err, tc.want)
		})
	}
}

func TestReadFrame(t *testing.T) {
	a := sampleMessage()
	b := sampleMessage()
	b.Payload = nil
	var stream bytes.Buffer
	stream.Write(a.Encode())
	stream.Write(b.Encode())

	m, err := ReadFrame(&stream, MaxFrameSize)
	require.NoError(t, err)
	assert.Equal(t, a.Payload, m.Payload)
	m, err = ReadFrame(&stream, MaxFrameSize)
	require.NoError(t, err)
	assert.Empty(t, m.Payload)
	_, err = ReadFrame(&stream, MaxFrameSize)
	assert.ErrorIs(t, err, io.EOF)

	// A truncated payload is an unexpected EOF, not a clean one.
	frame := a.Encode()
	_, err = ReadFrame(bytes.NewReader(frame[:len(frame)-1]), MaxFrameSize)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)

	// The header is checked against the caller's limit before allocating.
	_, err = ReadFrame(bytes.NewReader(frame), HeaderSize+1)
	assert.ErrorIs(t, err, ErrTooLarge)
}

func TestStatusError(t *testing.T) {
	r := &Reply{Status: StatusNotFound, Msg: "db foo"}
	err := r.Err(OpGetTunable)
	require.Error(t, err)
	assert.True(t, errors.Is(err, &StatusError{Status: StatusNotFound}))
	assert.False(t, errors.Is(err, &StatusError{Status: StatusBusy}))
	assert.Equal(t, StatusNotFound, StatusOf(err))
	assert.Equal(t, StatusFailed, StatusOf(errors.New("x")))
	assert.Contains(t, err.Error(), "db foo")
	assert.NoError(t, (&Reply{Status: 1}).Err(OpPing), "positive statuses are results")
}
