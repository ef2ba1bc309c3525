package proto

import "math/bits"

// Hash is CTDB's ctdb_hash: Bob Jenkins' lookup3 "hashlittle" with an
// initial value of 0 (tdb_jenkins_hash). Record keys are placed on their
// location master with it (vnnmap[Hash(key) % len(vnnmap)]), and database
// ids are the Hash of the database name, so both agree with CTDB's.
func Hash(key []byte) uint32 {
	a := 0xdeadbeef + uint32(len(key))
	b, c := a, a
	k := key
	for len(k) > 12 {
		a += le32(k[0:4])
		b += le32(k[4:8])
		c += le32(k[8:12])
		a, b, c = jenkinsMix(a, b, c)
		k = k[12:]
	}
	if len(k) == 0 {
		return c
	}
	var tail [12]byte
	copy(tail[:], k)
	a += le32(tail[0:4])
	b += le32(tail[4:8])
	c += le32(tail[8:12])
	return jenkinsFinal(a, b, c)
}

func le32(p []byte) uint32 {
	return uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24
}

func jenkinsMix(a, b, c uint32) (uint32, uint32, uint32) {
	a -= c
	a ^= bits.RotateLeft32(c, 4)
	c += b
	b -= a
	b ^= bits.RotateLeft32(a, 6)
	a += c
	c -= b
	c ^= bits.RotateLeft32(b, 8)
	b += a
	a -= c
	a ^= bits.RotateLeft32(c, 16)
	c += b
	b -= a
	b ^= bits.RotateLeft32(a, 19)
	a += c
	c -= b
	c ^= bits.RotateLeft32(b, 4)
	b += a
	return a, b, c
}

func jenkinsFinal(a, b, c uint32) uint32 {
	c ^= b
	c -= bits.RotateLeft32(b, 14)
	a ^= c
	a -= bits.RotateLeft32(c, 11)
	b ^= a
	b -= bits.RotateLeft32(a, 25)
	c ^= b
	c -= bits.RotateLeft32(b, 16)
	a ^= c
	a -= bits.RotateLeft32(c, 4)
	b ^= a
	b -= bits.RotateLeft32(a, 14)
	c ^= b
	c -= bits.RotateLeft32(b, 24)
	return c
}

// DBID is the id of the database called name: the Hash of the name with
// its terminating NUL, as CTDB computes it, so `ctdb getdbmap` shows the
// ids CTDB shows.
func DBID(name string) uint32 {
	b := make([]byte, len(name)+1)
	copy(b, name)
	return Hash(b)
}
