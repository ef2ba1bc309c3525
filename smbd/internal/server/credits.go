package server

// MaxCredits is the size of the sequence window ([MS-SMB2] §3.3.1.1) and
// the most credits a client can hold, as Samba's "smb2 max credits".
const MaxCredits = 8192

// seqWindow tracks which MessageIds a connection may use: ids in
// [low, low+size) are granted; used marks ids consumed out of order.
type seqWindow struct {
	low     uint64
	size    uint64
	used    [MaxCredits / 64]uint64
	granted uint64 // credits the client holds
}

func newSeqWindow() *seqWindow { return &seqWindow{size: 1, granted: 1} }

func (w *seqWindow) bit(id uint64) (int, uint64) {
	i := id % MaxCredits
	return int(i / 64), 1 << (i % 64)
}

// consume validates and consumes ids [id, id+charge). It reports false
// for ids outside the window or used before; the connection must then be
// dropped.
func (w *seqWindow) consume(id uint64, charge uint64) bool {
	if charge == 0 {
		charge = 1
	}
	if id < w.low || id+charge < id || id+charge > w.low+w.size || charge > w.granted {
		return false
	}
	for i := id; i < id+charge; i++ {
		word, mask := w.bit(i)
		if w.used[word]&mask != 0 {
			return false
		}
	}
	for i := id; i < id+charge; i++ {
		word, mask := w.bit(i)
		w.used[word] |= mask
	}
	w.granted -= charge
	for w.size > 0 {
		word, mask := w.bit(w.low)
		if w.used[word]&mask == 0 {
			break
		}
		w.used[word] &^= mask
		w.low++
		w.size--
	}
	return true
}

// grant computes the credits to return for a request that was charged
// charge and asked for requested, and extends the window by that much.
// It never lets the client's balance reach zero when the window allows.
func (w *seqWindow) grant(charge, requested uint16, allowExtra bool) uint16 {
	c := uint64(max(charge, 1))
	r := uint64(max(requested, 1))
	g := c
	if allowExtra && r > c {
		g = r
	}
	room := MaxCredits - w.size
	if g > room {
		g = room
	}
	if w.granted+g == 0 && room > 0 {
		g = 1
	}
	w.size += g
	w.granted += g
	return uint16(g)
}
