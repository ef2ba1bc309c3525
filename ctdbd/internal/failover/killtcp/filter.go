package killtcp

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/net/bpf"
)

// snapLen is enough for the Ethernet, IP (with options) and TCP headers.
const snapLen = 128

// Offsets in an Ethernet frame.
const (
	offEtherType = 12
	offIPv4Proto = 14 + 9
	offIPv4Frag  = 14 + 6
	offIPv4Dst   = 14 + 16
	offIPv6Next  = 14 + 6
	offIPv6Dst   = 14 + 24
)

// Past these counts the jump offsets of classic BPF (8 bits) may not
// reach the end of the program; the filter then matches any TCP segment
// and Kill matches addresses itself.
const (
	maxFilterAddrs4 = 64
	maxFilterAddrs6 = 16
)

// op is one instruction with symbolic jump targets ("" means the next
// instruction) and an optional label naming its position.
type op struct {
	label  string
	ins    bpf.Instruction
	jt, jf string
}

// assemble resolves labels into relative jumps.
func assemble(ops []op) ([]bpf.Instruction, error) {
	pos := make(map[string]int)
	for i, o := range ops {
		if o.label != "" {
			pos[o.label] = i
		}
	}
	skip := func(i int, label string) (int, error) {
		if label == "" {
			return 0, nil
		}
		t, ok := pos[label]
		if !ok || t <= i {
			return 0, fmt.Errorf("bad jump to %q", label)
		}
		return t - i - 1, nil
	}
	out := make([]bpf.Instruction, len(ops))
	for i, o := range ops {
		switch ins := o.ins.(type) {
		case bpf.JumpIf:
			t, err := skip(i, o.jt)
			if err != nil {
				return nil, err
			}
			f, err := skip(i, o.jf)
			if err != nil {
				return nil, err
			}
			if t > 255 || f > 255 {
				return nil, fmt.Errorf("jump too far at %d", i)
			}
			ins.SkipTrue, ins.SkipFalse = uint8(t), uint8(f)
			out[i] = ins
		case bpf.Jump:
			t, err := skip(i, o.jt)
			if err != nil {
				return nil, err
			}
			ins.Skip = uint32(t)
			out[i] = ins
		default:
			out[i] = o.ins
		}
	}
	return out, nil
}

// captureFilter accepts Ethernet frames carrying TCP segments (not IPv4
// fragments) addressed to one of servers, the replies clients send to
// tickles. With too many addresses it accepts any TCP segment.
func captureFilter(servers []netip.Addr) []bpf.Instruction {
	var v4, v6 []netip.Addr
	for _, a := range servers {
		if a.Is4() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	if len(v4) <= maxFilterAddrs4 && len(v6) <= maxFilterAddrs6 {
		if prog, err := buildFilter(v4, v6); err == nil {
			return prog
		}
	}
	if prog, err := buildFilter(nil, nil); err == nil {
		return prog
	}
	// Unreachable while the tests pass; capturing everything is still
	// correct because Kill checks every segment itself.
	return []bpf.Instruction{bpf.RetConstant{Val: snapLen}}
}

// buildFilter assembles the filter for the given addresses; with none at
// all it matches every TCP segment.
func buildFilter(v4, v6 []netip.Addr) ([]bpf.Instruction, error) {
	matchAll := len(v4) == 0 && len(v6) == 0

	var ops []op
	add := func(o op) { ops = append(ops, o) }
	load := func(off, size uint32) bpf.Instruction { return bpf.LoadAbsolute{Off: off, Size: int(size)} }
	eq := func(v uint32) bpf.Instruction { return bpf.JumpIf{Cond: bpf.JumpEqual, Val: v} }

	add(op{ins: load(offEtherType, 2)})
	if matchAll || len(v4) > 0 {
		add(op{ins: eq(0x0800), jf: "ipv6"})
		add(op{ins: load(offIPv4Proto, 1)})
		add(op{ins: eq(6), jf: "drop"})
		add(op{ins: load(offIPv4Frag, 2)})
		add(op{ins: bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff}, jt: "drop"})
		if matchAll {
			add(op{ins: bpf.Jump{}, jt: "accept"})
		} else {
			add(op{ins: load(offIPv4Dst, 4)})
			for _, a := range v4 {
				b := a.As4()
				add(op{ins: eq(binary.BigEndian.Uint32(b[:])), jt: "accept"})
			}
			add(op{ins: bpf.Jump{}, jt: "drop"})
		}
	}
	add(op{label: "ipv6", ins: load(offEtherType, 2)})
	if matchAll || len(v6) > 0 {
		add(op{ins: eq(0x86dd), jf: "drop"})
		add(op{ins: load(offIPv6Next, 1)})
		add(op{ins: eq(6), jf: "drop"})
		if matchAll {
			add(op{ins: bpf.Jump{}, jt: "accept"})
		}
		for i, a := range v6 {
			b := a.As16()
			next := fmt.Sprintf("v6addr%d", i+1)
			if i == len(v6)-1 {
				next = "drop"
			}
			for w := range 4 {
				o := op{ins: load(offIPv6Dst+uint32(4*w), 4)}
				if w == 0 {
					o.label = fmt.Sprintf("v6addr%d", i)
				}
				add(o)
				jt := ""
				if w == 3 {
					jt = "accept"
				}
				add(op{ins: eq(binary.BigEndian.Uint32(b[4*w:])), jt: jt, jf: next})
			}
		}
	}
	add(op{label: "drop", ins: bpf.RetConstant{Val: 0}})
	add(op{label: "accept", ins: bpf.RetConstant{Val: snapLen}})

	return assemble(ops)
}
