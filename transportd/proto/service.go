package proto

import "fmt"

// ServiceID names a service: the second part of an endpoint. Every piece of
// ctdbd's logic is a service; clients and message srvids are addressed the
// same way.
type ServiceID uint32

// Well-known services. The numbers are part of the wire protocol.
const (
	ServiceNone       ServiceID = 0
	ServiceTransport  ServiceID = 1  // the router itself: hello, srvid registration, link status
	ServiceNode       ServiceID = 2  // node state: flags, runstate, tunables, statistics
	ServiceMembership ServiceID = 3  // liveness (memberlist) and connectivity
	ServiceCluster    ServiceID = 4  // leader election and the cluster lock
	ServiceDatabase   ServiceID = 5  // clustered databases
	ServiceRecovery   ServiceID = 6  // recovery, run by the leader
	ServiceVacuum     ServiceID = 7  // vacuuming
	ServiceFailover   ServiceID = 8  // public IP addresses
	ServiceEvent      ServiceID = 9  // event scripts
	ServiceBanning    ServiceID = 10 // ban credits and bans

	// ServiceClient addresses a connected client; the endpoint id is the
	// client's connection id on its node.
	ServiceClient ServiceID = 0x100
	// ServiceMessage addresses a message srvid; the endpoint id is the
	// srvid and the frame goes to every local registrant of it.
	ServiceMessage ServiceID = 0x101
	// ServiceTunnel addresses a tunnel id, as CTDB's tunnels.
	ServiceTunnel ServiceID = 0x102
)

var serviceNames = map[ServiceID]string{
	ServiceNone:       "none",
	ServiceTransport:  "transport",
	ServiceNode:       "node",
	ServiceMembership: "membership",
	ServiceCluster:    "cluster",
	ServiceDatabase:   "database",
	ServiceRecovery:   "recovery",
	ServiceVacuum:     "vacuum",
	ServiceFailover:   "failover",
	ServiceEvent:      "event",
	ServiceBanning:    "banning",
	ServiceClient:     "client",
	ServiceMessage:    "message",
	ServiceTunnel:     "tunnel",
}

func (s ServiceID) String() string {
	if n, ok := serviceNames[s]; ok {
		return n
	}
	return fmt.Sprintf("service-%d", uint32(s))
}

// Opcode identifies a message type. The high 16 bits are the family (one
// per service), the low 16 bits the message within it; each family is
// defined in its own file.
type Opcode uint32

// Opcode families.
const (
	FamilyTransport  Opcode = 0x0001 << 16
	FamilyNode       Opcode = 0x0002 << 16
	FamilyMembership Opcode = 0x0003 << 16
	FamilyCluster    Opcode = 0x0004 << 16
	FamilyDatabase   Opcode = 0x0005 << 16
	FamilyRecovery   Opcode = 0x0006 << 16
	FamilyVacuum     Opcode = 0x0007 << 16
	FamilyFailover   Opcode = 0x0008 << 16
	FamilyEvent      Opcode = 0x0009 << 16
	FamilyBanning    Opcode = 0x000A << 16
	FamilyMessage    Opcode = 0x0101 << 16
	FamilyTunnel     Opcode = 0x0102 << 16
)

// Family returns the family bits of op.
func (op Opcode) Family() Opcode { return op & 0xFFFF0000 }

// opcodeNameTables lists each family's name table; a family file adds its
// table here.
var opcodeNameTables = []map[Opcode]string{
	transportOpcodeNames,
	nodeOpcodeNames,
	membershipOpcodeNames,
	messageOpcodeNames,
	failoverOpcodeNames,
	eventOpcodeNames,
	databaseOpcodeNames,
	clusterOpcodeNames,
	banningOpcodeNames,
	recoveryOpcodeNames,
	vacuumOpcodeNames,
}

func (op Opcode) String() string {
	for _, t := range opcodeNameTables {
		if n, ok := t[op]; ok {
			return n
		}
	}
	return fmt.Sprintf("opcode-0x%08x", uint32(op))
}
