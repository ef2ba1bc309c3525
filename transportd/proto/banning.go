package proto

import "fmt"

// Banning family: bans with an expiry and a reason, and ban credits. A
// ban is kept by the banned node's own banning service, which sets and
// clears its BANNED flag, so a ban expires even if whoever imposed it is
// gone.
const (
	// OpBan bans the receiving node (BanRequest, Seconds > 0). Banning a
	// banned node replaces its ban.
	OpBan = FamilyBanning | 0x0001
	// OpUnban lifts the receiving node's ban (no payload). Answered with
	// status 1 when the node was not banned.
	OpUnban = FamilyBanning | 0x0002
	// OpGetBanState answers with the receiving node's BanState.
	OpGetBanState = FamilyBanning | 0x0003
	// OpBanCredits charges a node with ban credits (BanCredits), sent by
	// the leader's recovery to its local banning service; a node that
	// collects 2 x (number of nodes) credits within RecoveryGracePeriod
	// is banned for RecoveryBanPeriod, unless EnableBans is 0.
	OpBanCredits = FamilyBanning | 0x0004
	// OpBanState publishes this node's BanState on SrvIDBanState after
	// every ban and unban.
	OpBanState = FamilyBanning | 0x0005
)

var banningOpcodeNames = map[Opcode]string{
	OpBan:         "ban",
	OpUnban:       "unban",
	OpGetBanState: "get_ban_state",
	OpBanCredits:  "ban_credits",
	OpBanState:    "ban_state",
}

// MaxBanReason bounds a ban's reason.
const MaxBanReason = 1024

// BanRequest bans a node for Seconds.
type BanRequest struct {
	Seconds uint32
	// By is the node that asked (PNNUnknown for a local client).
	By uint32
	// Reason says why, for logs and ctdb status: "administrative ban",
	// "failed recovery 4 times: freeze timed out", ...
	Reason string
}

// AppendTo encodes r.
func (r *BanRequest) AppendTo(b []byte) []byte {
	b = AppendU32(b, r.Seconds)
	b = AppendU32(b, r.By)
	return AppendString(b, r.Reason)
}

// DecodeFrom decodes r.
func (r *BanRequest) DecodeFrom(d *Decoder) {
	r.Seconds = d.U32()
	r.By = d.U32()
	r.Reason = d.String(MaxBanReason)
}

// BanState is a node's ban.
type BanState struct {
	PNN    uint32
	Banned bool
	// Since and Until bound the ban (zero when not banned).
	Since Timestamp
	Until Timestamp
	By    uint32
	// Reason is the reason of the current ban, or of the last one.
	Reason string
}

// AppendTo encodes s.
func (s *BanState) AppendTo(b []byte) []byte {
	b = AppendU32(b, s.PNN)
	b = AppendBool(b, s.Banned)
	b = AppendI64(b, int64(s.Since))
	b = AppendI64(b, int64(s.Until))
	b = AppendU32(b, s.By)
	return AppendString(b, s.Reason)
}

// DecodeFrom decodes s.
func (s *BanState) DecodeFrom(d *Decoder) {
	s.PNN = d.U32()
	s.Banned = d.Bool()
	s.Since = Timestamp(d.I64())
	s.Until = Timestamp(d.I64())
	s.By = d.U32()
	s.Reason = d.String(MaxBanReason)
	if d.Err() == nil && s.Banned && s.Until < s.Since {
		d.Fail(fmt.Errorf("%w: ban ends before it starts", ErrMalformed))
	}
}

// BanCredits charges PNN with Credits for a failure described by Reason.
type BanCredits struct {
	PNN     uint32
	Credits uint32
	Reason  string
}

// AppendTo encodes c.
func (c *BanCredits) AppendTo(b []byte) []byte {
	b = AppendU32(b, c.PNN)
	b = AppendU32(b, c.Credits)
	return AppendString(b, c.Reason)
}

// DecodeFrom decodes c.
func (c *BanCredits) DecodeFrom(d *Decoder) {
	c.PNN = d.U32()
	c.Credits = d.U32()
	c.Reason = d.String(MaxBanReason)
}
