// Package proto is the gctdb wire protocol: the frame header, the hello
// handshake with version negotiation, the reply envelope and one explicit
// marshal/unmarshal pair per message. It is the single source of truth for
// bytes on the wire between nodes, services and clients, and imports nothing
// from this repository.
//
// Every frame starts with a fixed 56-byte header in little-endian byte order,
// whatever the host:
//
//	length u32 | magic u32 | protocol_version u16 | payload_version u16
//	dst endpoint | src endpoint | flags u32 | reqid u32 | opcode u32
//	endpoint = pnn u32 | service u32 | id u64
//
// Length counts the whole frame, header included. Payload types implement
// AppendTo (encode, cannot fail) and Decode (strict: short, oversized or
// inconsistent input is an error, never a panic). A decoder accepts trailing
// bytes only when the frame's payload_version is newer than the one it was
// written for, so a newer peer may append fields without breaking an older
// one.
package proto
