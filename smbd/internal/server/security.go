package server

import (
	"os"

	"encoding/binary"
	"gctdb/smbd/internal/vfs"

	"golang.org/x/sys/unix"

	"gctdb/smbd/internal/wire"
)

// Security information bits of QUERY_INFO/SET_INFO AdditionalInformation.
const (
	secOwner = 0x1
	secGroup = 0x2
	secDACL  = 0x4
	secSACL  = 0x8
)

// appendSID encodes S-1-auth-subs...
func appendSID(b []byte, auth uint64, subs ...uint32) []byte {
	b = append(b, 1, byte(len(subs)))
	for i := 5; i >= 0; i-- {
		b = append(b, byte(auth>>(8*i)))
	}
	for _, s := range subs {
		b = binary.LittleEndian.AppendUint32(b, s)
	}
	return b
}

// buildSecurityDescriptor returns a self-relative descriptor for a file
// owned by uid:gid: owner and group as Samba's unix SIDs (S-1-22-1-uid,
// S-1-22-2-gid) and a DACL mapping the mode bits onto owner, group and
// Everyone.
func buildSecurityDescriptor(uid, gid, mode uint32, isDir bool, info uint32) []byte {
	owner := appendSID(nil, 22, 1, uid)
	group := appendSID(nil, 22, 2, gid)
	everyone := appendSID(nil, 1, 0)
	rights := func(bits uint32) uint32 {
		m := wire.ReadControl | wire.Synchronize | wire.FileReadAttributes | wire.FileReadEA
		if bits&4 != 0 {
			m |= wire.FileReadData
		}
		if bits&2 != 0 {
			m |= wire.FileWriteData | wire.FileAppendData | wire.FileWriteAttributes | wire.FileWriteEA
			if isDir {
				m |= wire.FileDeleteChild
			}
		}
		if bits&1 != 0 {
			m |= wire.FileExecute
		}
		return m
	}
	var acl []byte
	aces := 0
	addACE := func(mask uint32, sid []byte) {
		ace := []byte{0, 0}
		if isDir {
			ace[1] = 0x3 // OBJECT_INHERIT | CONTAINER_INHERIT
		}
		ace = binary.LittleEndian.AppendUint16(ace, uint16(8+len(sid)))
		ace = binary.LittleEndian.AppendUint32(ace, mask)
		acl = append(acl, append(ace, sid...)...)
		aces++
	}
	addACE(rights(mode>>6)|wire.WriteDAC|wire.WriteOwner|wire.Delete, owner)
	addACE(rights(mode>>3), group)
	addACE(rights(mode), everyone)

	control := uint16(0x8000) // SE_SELF_RELATIVE
	sd := make([]byte, 20)
	sd[0] = 1
	off := 20
	if info&secOwner != 0 {
		binary.LittleEndian.PutUint32(sd[4:], uint32(off))
		sd = append(sd, owner...)
		off += len(owner)
	}
	if info&secGroup != 0 {
		binary.LittleEndian.PutUint32(sd[8:], uint32(off))
		sd = append(sd, group...)
		off += len(group)
	}
	if info&secDACL != 0 {
		control |= 0x0004 // SE_DACL_PRESENT
		binary.LittleEndian.PutUint32(sd[16:], uint32(off))
		hdr := []byte{2, 0}
		hdr = binary.LittleEndian.AppendUint16(hdr, uint16(8+len(acl)))
		hdr = binary.LittleEndian.AppendUint16(hdr, uint16(aces))
		hdr = binary.LittleEndian.AppendUint16(hdr, 0)
		sd = append(sd, hdr...)
		sd = append(sd, acl...)
	}
	binary.LittleEndian.PutUint16(sd[2:], control)
	return sd
}

func ownerOf(f *os.File) (uid, gid, mode uint32, err error) {
	var st unix.Stat_t
	if err = unix.Fstat(int(f.Fd()), &st); err != nil {
		return
	}
	return st.Uid, st.Gid, st.Mode & 0o777, nil
}

func (c *conn) querySecurity(r *request, o *open, req *wire.QueryInfoRequest) wire.Status {
	if o.pipe != nil {
		return wire.StatusInvalidParameter
	}
	info := req.AdditionalInfo
	if info&secSACL != 0 && o.access&wire.AccessSystemSecurity == 0 {
		return wire.StatusAccessDenied
	}
	if info&(secOwner|secGroup|secDACL) != 0 && o.access&wire.ReadControl == 0 {
		return wire.StatusAccessDenied
	}
	sd, err := c.fileSD(o)
	if err != nil {
		return statusOf(err)
	}
	out := sd.encode(info)
	if len(out) > int(req.OutputBufferLength) {
		r.errData = binary.LittleEndian.AppendUint32(nil, uint32(len(out)))
		return wire.StatusBufferTooSmall
	}
	r.out = wire.AppendBufferResponse(r.out, out)
	return wire.StatusOK
}

// setSecurity stores the parts of a descriptor named by the security
// information bits, after the access checks.
func (c *conn) setSecurity(r *request, o *open, req *wire.SetInfoRequest) wire.Status {
	info := req.AdditionalInfo
	if info&(secOwner|secGroup) != 0 && o.access&wire.WriteOwner == 0 {
		return wire.StatusAccessDenied
	}
	if info&secDACL != 0 && o.access&wire.WriteDAC == 0 {
		return wire.StatusAccessDenied
	}
	if info&secSACL != 0 && o.access&wire.AccessSystemSecurity == 0 {
		return wire.StatusAccessDenied
	}
	in, err := parseSD(req.Buffer)
	if err != nil {
		return wire.StatusInvalidSecurityDescriptor
	}
	sd, err := c.fileSD(o)
	if err != nil {
		return statusOf(err)
	}
	sd.merge(in, info)
	if err := vfs.SetSD(o.f, sd.encode(secOwner|secGroup|secDACL|secSACL)); err != nil {
		return statusOf(err)
	}
	return wire.StatusOK
}
