package proto

import (
	"bytes"
	"testing"
)

// fuzzPayload checks that decoding arbitrary bytes never panics and that
// whatever decodes re-encodes to bytes that decode to the same value.
func fuzzPayload(f *testing.F, name string) {
	var tc payloadCase
	for _, c := range payloadCases() {
		if c.name == name {
			tc = c
		}
	}
	if tc.value == nil {
		f.Fatalf("no payload case %q", name)
	}
	f.Add(Marshal(tc.value))
	f.Add([]byte{})
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		v := tc.fresh()
		if err := Unmarshal(b, v); err != nil {
			return
		}
		enc := Marshal(v)
		w := tc.fresh()
		if err := Unmarshal(enc, w); err != nil {
			t.Fatalf("re-decode of %x: %v", enc, err)
		}
		if !bytes.Equal(enc, Marshal(w)) {
			t.Fatalf("round trip changed the encoding of %x", b)
		}
	})
}

func FuzzHello(f *testing.F)          { fuzzPayload(f, "hello") }
func FuzzHelloAccept(f *testing.F)    { fuzzPayload(f, "hello_accept") }
func FuzzHelloReject(f *testing.F)    { fuzzPayload(f, "hello_reject") }
func FuzzSrvID(f *testing.F)          { fuzzPayload(f, "srvid") }
func FuzzServiceList(f *testing.F)    { fuzzPayload(f, "service_list") }
func FuzzLinkStatus(f *testing.F)     { fuzzPayload(f, "link_status") }
func FuzzClientCount(f *testing.F)    { fuzzPayload(f, "client_count") }
func FuzzTransportStats(f *testing.F) { fuzzPayload(f, "transport_stats") }
func FuzzProcessExists(f *testing.F)  { fuzzPayload(f, "process_exists") }
func FuzzClientGone(f *testing.F)     { fuzzPayload(f, "client_gone") }
func FuzzReply(f *testing.F)          { fuzzPayload(f, "reply") }
func FuzzPingReply(f *testing.F)      { fuzzPayload(f, "ping_reply") }
func FuzzUptime(f *testing.F)         { fuzzPayload(f, "uptime") }
func FuzzRecoveryTimes(f *testing.F)  { fuzzPayload(f, "recovery_times") }
func FuzzNodeMap(f *testing.F)        { fuzzPayload(f, "nodemap") }
func FuzzTunable(f *testing.F)        { fuzzPayload(f, "tunable") }
func FuzzName(f *testing.F)           { fuzzPayload(f, "name") }
func FuzzTunableList(f *testing.F)    { fuzzPayload(f, "tunable_list") }
func FuzzStatistics(f *testing.F)     { fuzzPayload(f, "statistics") }
func FuzzModifyFlags(f *testing.F)    { fuzzPayload(f, "modify_flags") }
func FuzzNodeFlags(f *testing.F)      { fuzzPayload(f, "node_flags") }
func FuzzCapabilities(f *testing.F)   { fuzzPayload(f, "capabilities") }
func FuzzConnectivity(f *testing.F)   { fuzzPayload(f, "connectivity") }

// FuzzFrame feeds arbitrary bytes to both frame decoders.
func FuzzFrame(f *testing.F) {
	f.Add(sampleMessage().Encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeFrame(b, MaxFrameSize)
		if err == nil && !bytes.Equal(m.Encode(), b) {
			t.Fatalf("frame re-encoding differs")
		}
		_, _ = ReadFrame(bytes.NewReader(b), 1<<16)
	})
}
