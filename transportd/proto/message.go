package proto

// Message family: CTDB-style messages to srvids. A frame addressed to
// {pnn, ServiceMessage, srvid} with OpMessage is delivered to every
// registrant of srvid on that node; its payload is the raw message data.
const (
	OpMessage = FamilyMessage | 0x0001
)

var messageOpcodeNames = map[Opcode]string{
	OpMessage: "message",
}

// Well-known srvids used inside gctdb; all in a range CTDB leaves unused
// (its own reserved srvids start with 0xF0..0xFE in the top byte, ours with
// 0xF7C0).
const (
	srvidBase uint64 = 0xF7C0_0000_0000_0000

	// SrvIDNodeFlags carries NodeFlagsChanged events (node service).
	SrvIDNodeFlags = srvidBase | 0x0001
	// SrvIDTunables carries TunableList snapshots after a change.
	SrvIDTunables = srvidBase | 0x0002
	// SrvIDConnectivity carries Connectivity updates (membership).
	SrvIDConnectivity = srvidBase | 0x0003
	// SrvIDRunstate carries U32 runstate changes.
	SrvIDRunstate = srvidBase | 0x0004
	// SrvIDNodeMap carries the node service's full NodeMap after any
	// change of flags or connectivity.
	SrvIDNodeMap = srvidBase | 0x0005
	// SrvIDClientGone carries ClientGone when a local client disconnects.
	SrvIDClientGone = srvidBase | 0x0006
)
