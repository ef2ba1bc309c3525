// Package smbcrypto holds the cryptographic primitives SMB 2/3 needs:
// AES-CMAC (RFC 4493), the SP800-108 counter-mode KDF with the SMB labels,
// message signing (HMAC-SHA256, AES-CMAC, AES-GMAC), the AES-CCM/GCM
// ciphers behind the TRANSFORM_HEADER, and the SHA-512 preauth integrity
// hash. Every primitive is checked against its specification's vectors.
package smbcrypto
