package smbcrypto

import "crypto/sha512"

// PreauthHash is the SMB 3.1.1 preauth integrity hash value (SHA-512).
type PreauthHash [64]byte

// Update folds a whole SMB2 message (without transport framing) into h.
func (h *PreauthHash) Update(msg []byte) {
	d := sha512.New()
	d.Write(h[:])
	d.Write(msg)
	d.Sum(h[:0])
}
