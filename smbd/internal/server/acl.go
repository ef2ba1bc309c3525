package server

import (
	"golang.org/x/sys/unix"

	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"strings"

	"gctdb/smbd/internal/vfs"
	"gctdb/smbd/internal/wire"
)

// Security descriptors ([MS-DTYP] §2.4.6) are stored as the client set
// them and evaluated at open time against the session's token.

var errBadSD = errors.New("server: malformed security descriptor")

const (
	seDACLPresent = 0x0004
	seSACLPresent = 0x0010
	seSelfRel     = 0x8000

	aceAllowed = 0x00
	aceDenied  = 0x01
	aceInherit = 0x08 // INHERIT_ONLY_ACE
)

// Well-known SIDs in wire form.
var (
	sidEveryone      = appendSID(nil, 1, 0)
	sidAnonymous     = appendSID(nil, 5, 7)
	sidAuthenticated = appendSID(nil, 5, 11)
	sidUsers         = appendSID(nil, 5, 32, 545)
)

// sidLen validates a SID at b and returns its length.
func sidLen(b []byte) (int, error) {
	if len(b) < 8 || b[0] != 1 || b[1] > 15 {
		return 0, errBadSD
	}
	n := 8 + 4*int(b[1])
	if len(b) < n {
		return 0, errBadSD
	}
	return n, nil
}

// secDesc is a parsed self-relative security descriptor; the parts point
// into the original bytes.
type secDesc struct {
	control      uint16
	owner, group []byte
	sacl, dacl   []byte // whole ACLs, nil when absent
}

func parseSD(b []byte) (*secDesc, error) {
	if len(b) < 20 || b[0] != 1 {
		return nil, errBadSD
	}
	sd := &secDesc{control: binary.LittleEndian.Uint16(b[2:])}
	part := func(off uint32, acl bool) ([]byte, error) {
		if off == 0 {
			return nil, nil
		}
		if off < 20 || uint64(off) >= uint64(len(b)) {
			return nil, errBadSD
		}
		p := b[off:]
		if !acl {
			n, err := sidLen(p)
			if err != nil {
				return nil, err
			}
			return p[:n], nil
		}
		if len(p) < 8 {
			return nil, errBadSD
		}
		size := int(binary.LittleEndian.Uint16(p[2:]))
		if size < 8 || size > len(p) {
			return nil, errBadSD
		}
		return p[:size], aclValid(p[:size])
	}
	var err error
	if sd.owner, err = part(binary.LittleEndian.Uint32(b[4:]), false); err != nil {
		return nil, err
	}
	if sd.group, err = part(binary.LittleEndian.Uint32(b[8:]), false); err != nil {
		return nil, err
	}
	if sd.control&seSACLPresent != 0 {
		if sd.sacl, err = part(binary.LittleEndian.Uint32(b[12:]), true); err != nil {
			return nil, err
		}
	}
	if sd.control&seDACLPresent != 0 {
		if sd.dacl, err = part(binary.LittleEndian.Uint32(b[16:]), true); err != nil {
			return nil, err
		}
	}
	return sd, nil
}

// aclValid checks every ACE of an ACL stays inside it.
func aclValid(acl []byte) error {
	n := int(binary.LittleEndian.Uint16(acl[4:]))
	p := acl[8:]
	for i := 0; i < n; i++ {
		if len(p) < 4 {
			return errBadSD
		}
		size := int(binary.LittleEndian.Uint16(p[2:]))
		if size < 4 || size > len(p) {
			return errBadSD
		}
		p = p[size:]
	}
	return nil
}

// encode builds a self-relative descriptor with the parts selected by
// info (OWNER, GROUP, DACL, SACL bits).
func (sd *secDesc) encode(info uint32) []byte {
	out := make([]byte, 20)
	out[0] = 1
	control := uint16(seSelfRel)
	add := func(at int, p []byte) {
		binary.LittleEndian.PutUint32(out[at:], uint32(len(out)))
		out = append(out, p...)
	}
	if info&secOwner != 0 && sd.owner != nil {
		add(4, sd.owner)
	}
	if info&secGroup != 0 && sd.group != nil {
		add(8, sd.group)
	}
	if info&secSACL != 0 && sd.control&seSACLPresent != 0 {
		control |= seSACLPresent | sd.control&0x2A00 // SACL auto-inherit/protected flags
		if sd.sacl != nil {
			add(12, sd.sacl)
		}
	}
	if info&secDACL != 0 && sd.control&seDACLPresent != 0 {
		control |= seDACLPresent | sd.control&0x1500 // DACL auto-inherit/protected flags
		if sd.dacl != nil {
			add(16, sd.dacl)
		}
	}
	binary.LittleEndian.PutUint16(out[2:], control)
	return out
}

// merge replaces the parts of sd named by info with those of in.
func (sd *secDesc) merge(in *secDesc, info uint32) {
	if info&secOwner != 0 && in.owner != nil {
		sd.owner = in.owner
	}
	if info&secGroup != 0 && in.group != nil {
		sd.group = in.group
	}
	if info&secDACL != 0 {
		// A descriptor without DACL_PRESENT sets a NULL DACL, as Windows
		// does.
		sd.control = sd.control&^0x1500 | in.control&0x1500 | seDACLPresent
		sd.dacl = nil
		if in.control&seDACLPresent != 0 {
			sd.dacl = in.dacl
		}
	}
	if info&secSACL != 0 {
		sd.control = sd.control&^(seSACLPresent|0x2A00) | in.control&(seSACLPresent|0x2A00)
		sd.sacl = in.sacl
	}
}

// userSID is the SID of a user: a domain derived from the server GUID
// (the same on every node) and a RID derived from the name.
func (srv *Server) userSID(name string) []byte {
	d := sha256.Sum256(srv.cfg.ServerGUID[:])
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(name)))
	rid := 1000 + h.Sum32()%0x3FFFFFFF
	return appendSID(nil, 5, 21,
		binary.LittleEndian.Uint32(d[0:]), binary.LittleEndian.Uint32(d[4:]), binary.LittleEndian.Uint32(d[8:]), rid)
}

// ownerSID is the SID recorded as owner of files a session creates.
func (srv *Server) ownerSID(s *session) []byte {
	if s.anonymous {
		return sidAnonymous
	}
	return srv.userSID(s.user)
}

// parentAllowsDelete applies the Windows rule that DELETE_CHILD on the
// parent directory grants DELETE on a file.
func (c *conn) parentAllowsDelete(r *request, rel string) bool {
	parent := ""
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		parent = rel[:i]
	}
	d, err := r.tree.share.fs.OpenFile(parent, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return false
	}
	defer d.Close()
	raw := vfs.GetSD(d)
	if raw == nil {
		return true // no stored ACL: the share grants full access
	}
	sd, err := parseSD(raw)
	return err == nil && grantedBy(sd, c.srv.token(r.sess))&wire.FileDeleteChild != 0
}

// token lists the SIDs an access check matches for a session.
func (srv *Server) token(s *session) [][]byte {
	if s.anonymous {
		return [][]byte{sidAnonymous, sidEveryone}
	}
	return [][]byte{srv.userSID(s.user), sidEveryone, sidAuthenticated, sidUsers}
}

// grantedBy evaluates a DACL for a token ([MS-DTYP] §2.5.3.2, without
// object or callback ACEs): the rights allowed before being denied.
func grantedBy(sd *secDesc, token [][]byte) uint32 {
	if sd.control&seDACLPresent == 0 || sd.dacl == nil {
		return wire.FileAllAccess | wire.AccessSystemSecurity // no DACL: everything
	}
	var allowed, denied uint32
	matches := func(sid []byte) bool {
		for _, t := range token {
			if bytes.Equal(t, sid) {
				return true
			}
		}
		return false
	}
	n := int(binary.LittleEndian.Uint16(sd.dacl[4:]))
	p := sd.dacl[8:]
	for i := 0; i < n; i++ {
		size := int(binary.LittleEndian.Uint16(p[2:]))
		ace := p[:size]
		p = p[size:]
		if len(ace) < 8 || ace[1]&aceInherit != 0 {
			continue
		}
		mask := mapGenericAccess(binary.LittleEndian.Uint32(ace[4:]))
		sid := ace[8:]
		if l, err := sidLen(sid); err != nil || !matches(sid[:l]) {
			continue
		}
		switch ace[0] {
		case aceAllowed:
			allowed |= mask &^ denied
		case aceDenied:
			denied |= mask &^ allowed
		}
	}
	if sd.owner != nil && matches(sd.owner) {
		allowed |= wire.ReadControl | wire.WriteDAC
	}
	return allowed
}

// fileSD returns the descriptor of an open file: the stored one, or one
// derived from its mode bits.
func (c *conn) fileSD(o *open) (*secDesc, error) {
	if raw := vfs.GetSD(o.f); raw != nil {
		if sd, err := parseSD(raw); err == nil {
			return sd, nil
		}
	}
	uid, gid, mode, err := ownerOf(o.f)
	if err != nil {
		return nil, err
	}
	sd, err := parseSD(buildSecurityDescriptor(uid, gid, mode, o.isDir, secOwner|secGroup|secDACL))
	if err != nil {
		return nil, err
	}
	if owner := vfs.GetMeta(o.f).Owner; owner != nil {
		if _, err := sidLen(owner); err == nil {
			sd.owner = owner
		}
	}
	return sd, nil
}
