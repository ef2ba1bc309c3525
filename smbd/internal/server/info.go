package server

import (
	"encoding/binary"
	"io"
	"os"
	"path"
	"strings"

	"gctdb/smbd/internal/state"
	"gctdb/smbd/internal/vfs"
	"gctdb/smbd/internal/wire"
)

var le = binary.LittleEndian

// infoResult is an encoded information class and the size of its fixed
// part (for the BUFFER_OVERFLOW versus INFO_LENGTH_MISMATCH rule).
type infoResult struct {
	data  []byte
	fixed int
}

func (c *conn) handleQueryInfo(r *request) wire.Status {
	req, err := wire.ParseQueryInfo(r.msg)
	if err != nil {
		return wire.StatusInvalidParameter
	}
	o, st := r.lookupOpen(req.FileID)
	if st != wire.StatusOK {
		return st
	}
	if req.OutputBufferLength > c.srv.cfg.MaxIOSize {
		return wire.StatusInvalidParameter
	}
	var res infoResult
	switch req.InfoType {
	case wire.InfoFile:
		res, st = c.queryFileInfo(r, o, req)
	case wire.InfoFilesystem:
		res, st = c.queryFSInfo(o, req)
	case wire.InfoSecurity:
		return c.querySecurity(r, o, req)
	case wire.InfoQuota:
		return wire.StatusNotSupported
	default:
		return wire.StatusInvalidParameter
	}
	if st != wire.StatusOK {
		return st
	}
	limit := int(req.OutputBufferLength)
	if len(res.data) > limit {
		if limit < res.fixed || res.fixed == len(res.data) {
			return wire.StatusInfoLengthMismatch
		}
		r.out = wire.AppendBufferResponse(r.out, res.data[:limit])
		return wire.StatusBufferOverflow
	}
	r.out = wire.AppendBufferResponse(r.out, res.data)
	return wire.StatusOK
}

func fixedInfo(b []byte) (infoResult, wire.Status) {
	return infoResult{data: b, fixed: len(b)}, wire.StatusOK
}

func appendBasic(b []byte, in *vfs.Info) []byte {
	b = le.AppendUint64(b, in.Creation)
	b = le.AppendUint64(b, in.LastAccess)
	b = le.AppendUint64(b, in.LastWrite)
	b = le.AppendUint64(b, in.Change)
	b = le.AppendUint32(b, in.Attrs)
	return le.AppendUint32(b, 0)
}

func (c *conn) deletePending(r *request, o *open) bool {
	m, err := c.srv.cfg.Store.ReadShareModes(r.ctx, o.key)
	return err == nil && m.DeletePending
}

func appendStandard(b []byte, in *vfs.Info, deletePending bool) []byte {
	b = le.AppendUint64(b, in.Allocation)
	b = le.AppendUint64(b, in.Size)
	nlink := in.Nlink
	if deletePending && nlink > 0 {
		nlink--
	}
	b = le.AppendUint32(b, nlink)
	b = append(b, boolByte(deletePending), boolByte(in.IsDir))
	return le.AppendUint16(b, 0)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// windowsName is the open's path as the client names it: "\dir\file".
func windowsName(rel string) string { return "\\" + strings.ReplaceAll(rel, "/", "\\") }

func (c *conn) queryFileInfo(r *request, o *open, req *wire.QueryInfoRequest) (infoResult, wire.Status) {
	if o.pipe != nil {
		return c.queryPipeInfo(o, req.InfoClass)
	}
	// Access needed per class ([MS-FSA] §2.1.5.12): most classes need
	// none.
	need := uint32(0)
	switch req.InfoClass {
	case wire.FileBasicInformation, wire.FileAllInformation, wire.FileNetworkOpenInformation,
		wire.FileAttributeTagInformation:
		need = wire.FileReadAttributes
	case wire.FileFullEaInformation:
		need = wire.FileReadEA
	}
	if need != 0 && o.access&need == 0 {
		return infoResult{}, wire.StatusAccessDenied
	}
	in, err := vfs.Stat(o.f)
	if err != nil {
		return infoResult{}, statusOf(err)
	}
	if o.writeTime != 0 {
		in.LastWrite = o.writeTime
	}
	if o.stream != "" {
		data, err := o.streamData()
		if err != nil {
			return infoResult{}, statusOf(err)
		}
		in.Size = uint64(len(data))
		in.Allocation = (in.Size + 4095) &^ 4095
		in.IsDir = false
		in.Attrs &^= wire.AttrDirectory
		if in.Attrs == 0 {
			in.Attrs = wire.AttrNormal
		}
	}
	o.mu.Lock()
	pos := o.position
	rel := o.rel
	if o.stream != "" {
		rel += ":" + o.stream
	}
	o.mu.Unlock()
	switch req.InfoClass {
	case wire.FileBasicInformation:
		return fixedInfo(appendBasic(nil, &in))
	case wire.FileStandardInformation:
		return fixedInfo(appendStandard(nil, &in, c.deletePending(r, o)))
	case wire.FileInternalInformation:
		return fixedInfo(le.AppendUint64(nil, in.Ino))
	case wire.FileEaInformation:
		return fixedInfo(le.AppendUint32(nil, eaSize(o.f)))
	case wire.FileAccessInformation:
		return fixedInfo(le.AppendUint32(nil, o.access))
	case wire.FilePositionInformation:
		return fixedInfo(le.AppendUint64(nil, pos))
	case wire.FileModeInformation:
		return fixedInfo(le.AppendUint32(nil, 0))
	case wire.FileAlignmentInformation:
		return fixedInfo(le.AppendUint32(nil, 0))
	case wire.FileNameInformation:
		return nameInfo(windowsName(rel))
	case wire.FileNormalizedNameInformation:
		if c.dialect < wire.Dialect311 {
			return infoResult{}, wire.StatusNotSupported
		}
		return nameInfo(strings.TrimPrefix(windowsName(rel), "\\"))
	case wire.FileAllInformation:
		b := appendBasic(nil, &in)
		b = appendStandard(b, &in, c.deletePending(r, o))
		b = le.AppendUint64(b, in.Ino)
		b = le.AppendUint32(b, eaSize(o.f))
		b = le.AppendUint32(b, o.access)
		b = le.AppendUint64(b, pos)
		b = le.AppendUint32(b, 0) // Mode
		b = le.AppendUint32(b, 0) // Alignment
		name := wire.AppendUTF16(nil, windowsName(rel))
		b = le.AppendUint32(b, uint32(len(name)))
		return variableInfo(append(b, name...), 100, 8)
	case wire.FileAlternateNameInformation:
		base := path.Base(rel)
		if rel == "" {
			return infoResult{}, wire.StatusObjectNameNotFound
		}
		sn := shortName(base)
		if sn == "" {
			sn = strings.ToUpper(base)
		}
		return nameInfo(sn)
	case wire.FileStreamInformation:
		b, err := appendStreamInfo(o.f, &in)
		if err != nil {
			return infoResult{}, statusOf(err)
		}
		return variableInfo(b, 24, 8)
	case wire.FileCompressionInformation:
		b := le.AppendUint64(nil, in.Size)
		return fixedInfo(append(b, make([]byte, 8)...))
	case wire.FileNetworkOpenInformation:
		t := timesOf(&in)
		return fixedInfo(le.AppendUint32(wire.AppendFileTimes(nil, &t), 0))
	case wire.FileAttributeTagInformation:
		b := le.AppendUint32(nil, in.Attrs)
		return fixedInfo(le.AppendUint32(b, 0))
	case wire.FileFullEaInformation:
		eas, err := vfs.ListEAs(o.f)
		if err != nil {
			return infoResult{}, statusOf(err)
		}
		if len(eas) == 0 {
			return infoResult{}, wire.StatusNoEasOnFile
		}
		return variableInfo(appendFullEAs(nil, eas), 8, 4)
	}
	return infoResult{}, wire.StatusInvalidInfoClass
}

func nameInfo(name string) (infoResult, wire.Status) {
	n := wire.AppendUTF16(nil, name)
	b := le.AppendUint32(nil, uint32(len(n)))
	return variableInfo(append(b, n...), 4, 4)
}

func (c *conn) queryFSInfo(o *open, req *wire.QueryInfoRequest) (infoResult, wire.Status) {
	if o.pipe != nil {
		return infoResult{}, wire.StatusInvalidParameter
	}
	fs := o.fs()
	total, free, avail, bsize, err := fs.StatFS()
	if err != nil {
		return infoResult{}, statusOf(err)
	}
	const sectorSize = 512
	spu := bsize / sectorSize
	if spu == 0 {
		spu = 1
	}
	unit := uint64(spu) * sectorSize
	switch req.InfoClass {
	case wire.FileFsVolumeInformation:
		label := wire.AppendUTF16(nil, o.tree.share.cfg.Name)
		b := le.AppendUint64(nil, vfs.FileTime(c.srv.start))
		b = le.AppendUint32(b, uint32(fs.FsID()))
		b = le.AppendUint32(b, uint32(len(label)))
		b = append(b, 0, 0)
		return variableInfo(append(b, label...), 18, 8)
	case wire.FileFsSizeInformation:
		b := le.AppendUint64(nil, total/unit)
		b = le.AppendUint64(b, avail/unit)
		b = le.AppendUint32(b, spu)
		return fixedInfo(le.AppendUint32(b, sectorSize))
	case wire.FileFsFullSizeInformation:
		b := le.AppendUint64(nil, total/unit)
		b = le.AppendUint64(b, avail/unit)
		b = le.AppendUint64(b, free/unit)
		b = le.AppendUint32(b, spu)
		return fixedInfo(le.AppendUint32(b, sectorSize))
	case wire.FileFsDeviceInformation:
		b := le.AppendUint32(nil, 7)               // FILE_DEVICE_DISK
		return fixedInfo(le.AppendUint32(b, 0x20)) // FILE_DEVICE_IS_MOUNTED
	case wire.FileFsAttributeInformation:
		name := wire.AppendUTF16(nil, "NTFS")
		attrs := wire.FSCaseSensitiveSearch | wire.FSCasePreservedNames | wire.FSUnicodeOnDisk | wire.FSPersistentACLs
		b := le.AppendUint32(nil, attrs)
		b = le.AppendUint32(b, 255)
		b = le.AppendUint32(b, uint32(len(name)))
		return variableInfo(append(b, name...), 12, 4)
	case wire.FileFsControlInformation:
		return fixedInfo(make([]byte, 48))
	case wire.FileFsObjectIDInformation:
		b := make([]byte, 64)
		le.PutUint64(b, fs.FsID())
		return fixedInfo(b)
	case wire.FileFsSectorSizeInformation:
		b := le.AppendUint32(nil, sectorSize)
		b = le.AppendUint32(b, sectorSize)
		b = le.AppendUint32(b, sectorSize)
		b = le.AppendUint32(b, sectorSize)
		b = le.AppendUint32(b, 0x3) // ALIGNED_DEVICE | PARTITION_ALIGNED_ON_DEVICE
		b = le.AppendUint32(b, 0)
		return fixedInfo(le.AppendUint32(b, 0))
	}
	return infoResult{}, wire.StatusInvalidInfoClass
}

func (c *conn) handleSetInfo(r *request) wire.Status {
	req, err := wire.ParseSetInfo(r.msg)
	if err != nil {
		return wire.StatusInvalidParameter
	}
	o, st := r.lookupOpen(req.FileID)
	if st != wire.StatusOK {
		return st
	}
	if o.pipe != nil {
		return wire.StatusNotSupported
	}
	switch req.InfoType {
	case wire.InfoFile:
		st = c.setFileInfo(r, o, req)
	case wire.InfoSecurity:
		st = c.setSecurity(r, o, req)
	case wire.InfoFilesystem, wire.InfoQuota:
		st = wire.StatusNotSupported
	default:
		st = wire.StatusInvalidParameter
	}
	if st == wire.StatusOK {
		r.out = wire.AppendSetInfoResponse(r.out)
	}
	return st
}

// setInfoSize is the minimum buffer for fixed-size SET_INFO classes.
var setInfoSize = map[uint8]int{
	wire.FileBasicInformation:       36,
	wire.FileDispositionInformation: 1,
	wire.FilePositionInformation:    8,
	wire.FileModeInformation:        4,
	wire.FileAllocationInformation:  8,
	wire.FileEndOfFileInformation:   8,
	wire.FileRenameInformation:      20,
	wire.FileLinkInformation:        20,
}

func (c *conn) setFileInfo(r *request, o *open, req *wire.SetInfoRequest) wire.Status {
	if req.InfoClass == wire.FileFullEaInformation {
		if o.access&wire.FileWriteEA == 0 {
			return wire.StatusAccessDenied
		}
		eas, st := parseFullEAs(req.Buffer)
		if st != wire.StatusOK {
			return st
		}
		return setEAs(o.f, eas)
	}
	need, ok := setInfoSize[req.InfoClass]
	if !ok {
		return wire.StatusInvalidInfoClass
	}
	if len(req.Buffer) < need {
		return wire.StatusInfoLengthMismatch
	}
	b := req.Buffer
	if r.tree.readOnly && req.InfoClass != wire.FilePositionInformation && req.InfoClass != wire.FileModeInformation {
		return wire.StatusAccessDenied
	}
	switch req.InfoClass {
	case wire.FileBasicInformation:
		if o.access&wire.FileWriteAttributes == 0 {
			return wire.StatusAccessDenied
		}
		return c.setBasic(o, b)
	case wire.FileDispositionInformation:
		return c.setDisposition(r, o, b[0]&1 != 0)
	case wire.FilePositionInformation:
		pos := le.Uint64(b)
		if pos > 1<<63-1 {
			return wire.StatusInvalidParameter
		}
		o.mu.Lock()
		o.position = pos
		o.mu.Unlock()
		return wire.StatusOK
	case wire.FileModeInformation:
		mode := le.Uint32(b)
		if mode&^uint32(0x103E) != 0 {
			return wire.StatusInvalidParameter
		}
		return wire.StatusOK
	case wire.FileEndOfFileInformation, wire.FileAllocationInformation:
		return c.setSize(r, o, le.Uint64(b), req.InfoClass == wire.FileAllocationInformation)
	case wire.FileRenameInformation:
		return c.setRename(r, o, b)
	case wire.FileLinkInformation:
		return wire.StatusNotSupported
	}
	return wire.StatusInvalidInfoClass
}

// setSize sets the end of file, or for an allocation size only shrinks
// the file (space is not preallocated).
func (c *conn) setSize(r *request, o *open, size uint64, alloc bool) wire.Status {
	if o.access&wire.FileWriteData == 0 {
		return wire.StatusAccessDenied
	}
	if o.isDir || size > 1<<63-1 {
		return wire.StatusInvalidParameter
	}
	cur, err := o.size()
	if err != nil {
		return statusOf(err)
	}
	if alloc && size >= uint64(cur) {
		return wire.StatusOK
	}
	if o.stream != "" {
		return statusOf(o.truncateStream(size))
	}
	c.breakIIOnWrite(r, o)
	return statusOf(o.f.Truncate(int64(size)))
}

func (c *conn) setBasic(o *open, b []byte) wire.Status {
	ctime, atime, mtime := le.Uint64(b), le.Uint64(b[8:]), le.Uint64(b[16:])
	attrs := le.Uint32(b[32:])
	const keep = ^uint64(0) // -1: leave unchanged
	if attrs != 0 {
		if attrs&^wire.AttrValidSet != 0 {
			return wire.StatusInvalidParameter
		}
		if o.isDir && attrs&wire.AttrTemporary != 0 {
			return wire.StatusInvalidParameter
		}
		if !o.isDir && attrs&wire.AttrDirectory != 0 {
			return wire.StatusInvalidParameter
		}
	}
	if attrs != 0 || ctime != 0 && ctime != keep {
		m := vfs.GetMeta(o.f)
		in, err := vfs.Stat(o.f)
		if err != nil {
			return statusOf(err)
		}
		if !m.Valid {
			m.Attrs = in.Attrs
			m.Valid = true
		}
		if m.Creation == 0 {
			m.Creation = in.Creation
		}
		if attrs != 0 {
			m.Attrs = attrs &^ (wire.AttrNormal | wire.AttrDirectory)
		}
		if ctime != 0 && ctime != keep {
			m.Creation = ctime
		}
		if err := vfs.SetMeta(o.f, m); err != nil {
			return statusOf(err)
		}
	}
	if atime == keep {
		atime = 0
	}
	if mtime == keep {
		mtime = 0
	}
	if atime != 0 || mtime != 0 {
		if err := vfs.SetTimes(o.f, atime, mtime); err != nil {
			return statusOf(err)
		}
		if mtime != 0 {
			o.mu.Lock()
			o.writeTime = 0
			o.mu.Unlock()
		}
	}
	return wire.StatusOK
}

func (c *conn) setDisposition(r *request, o *open, del bool) wire.Status {
	if o.access&wire.Delete == 0 {
		return wire.StatusAccessDenied
	}
	if del {
		in, err := vfs.Stat(o.f)
		if err != nil {
			return statusOf(err)
		}
		if in.Attrs&wire.AttrReadonly != 0 {
			return wire.StatusCannotDelete
		}
		if o.isDir {
			names, err := readNames(o.f)
			if err != nil {
				return statusOf(err)
			}
			if len(names) > 0 {
				return wire.StatusDirectoryNotEmpty
			}
		}
		if o.name() == "" {
			return wire.StatusAccessDenied
		}
	}
	err := c.srv.cfg.Store.ModifyShareModes(r.ctx, o.key, func(m *state.ShareModes) error {
		m.DeletePending = del
		return nil
	})
	if err != nil {
		return statusOf(err)
	}
	o.mu.Lock()
	if !del {
		o.deleteOnClose = false
	}
	o.mu.Unlock()
	return wire.StatusOK
}

func readNames(f *os.File) ([]string, error) {
	d, err := os.Open("/proc/self/fd/" + itoa(int(f.Fd())))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(1)
	if err == io.EOF {
		err = nil
	}
	return names, err
}

// setRename implements FileRenameInformation ([MS-FSCC] §2.4.37.2).
func (c *conn) setRename(r *request, o *open, b []byte) wire.Status {
	replace := b[0] != 0
	n := le.Uint32(b[16:])
	if uint64(n) > uint64(len(b)-20) || n%2 != 0 {
		return wire.StatusInvalidParameter
	}
	target, err := wire.DecodeUTF16(b[20 : 20+n])
	if err != nil {
		return wire.StatusObjectNameInvalid
	}
	if o.access&wire.Delete == 0 {
		return wire.StatusAccessDenied
	}
	target = strings.TrimPrefix(target, "\\")
	if strings.HasPrefix(target, ":") {
		return wire.StatusNotSupported // stream rename
	}
	target, st := stripDataStream(target)
	if st != wire.StatusOK {
		return st
	}
	newRel, err := vfs.CleanName(target)
	if err != nil {
		return statusOf(err)
	}
	if newRel == "" {
		return wire.StatusObjectNameInvalid
	}
	fs := o.fs()
	oldRel := o.name()
	if oldRel == "" {
		return wire.StatusAccessDenied
	}
	// Resolve the directory part case-insensitively, keep the new name.
	dir, base := path.Split(newRel)
	dir = strings.TrimSuffix(dir, "/")
	if dir != "" {
		d, err := fs.Lookup(dir)
		if err != nil {
			return wire.StatusObjectPathNotFound
		}
		dir = d
	}
	newRel = path.Join(dir, base)
	existing, lerr := fs.Lookup(newRel)
	targetExists := lerr == nil
	if targetExists && strings.EqualFold(existing, oldRel) {
		// A case-only rename of the file itself.
		targetExists = false
	} else if targetExists {
		if !replace {
			return wire.StatusObjectNameCollision
		}
		newRel = existing
		if st := c.targetReplaceable(r, fs, newRel); st != wire.StatusOK {
			return st
		}
	}
	// Other opens of the file must share delete access with us.
	m, err := c.srv.cfg.Store.ReadShareModes(r.ctx, o.key)
	if err != nil {
		return statusOf(err)
	}
	for i := range m.Entries {
		e := &m.Entries[i]
		if e.Open != o.ref && e.Flags&state.ShareFlagStatOpen == 0 && e.ShareAccess&wire.ShareDelete == 0 {
			return wire.StatusSharingViolation
		}
	}
	if o.isDir && c.srv.hasOpensBelow(fs, oldRel) {
		return wire.StatusAccessDenied
	}
	if st := c.parentOpenForDelete(r, fs, oldRel); st != wire.StatusOK {
		return st
	}
	if err := fs.Rename(oldRel, newRel, targetExists); err != nil {
		return statusOf(err)
	}
	c.srv.renameOpens(fs, oldRel, newRel)
	c.srv.cfg.Store.ModifyShareModes(r.ctx, o.key, func(m *state.ShareModes) error {
		m.Name = newRel
		return nil
	})
	return wire.StatusOK
}

// parentOpenForDelete refuses a rename while the parent directory is open
// with DELETE access, as Windows does (smb2.rename.*_delete_access).
func (c *conn) parentOpenForDelete(r *request, fs *vfs.FS, rel string) wire.Status {
	in, err := fs.StatPath(path.Dir(rel))
	if err != nil {
		return wire.StatusOK
	}
	m, err := c.srv.cfg.Store.ReadShareModes(r.ctx, state.FileKey{Dev: in.Dev, Ino: in.Ino})
	if err != nil {
		return statusOf(err)
	}
	for _, e := range m.Entries {
		if e.Access&wire.Delete != 0 {
			return wire.StatusSharingViolation
		}
	}
	return wire.StatusOK
}

// targetReplaceable checks that an existing rename target may be replaced:
// not a directory and not open.
func (c *conn) targetReplaceable(r *request, fs *vfs.FS, rel string) wire.Status {
	in, err := fs.StatPath(rel)
	if err != nil {
		return statusOf(err)
	}
	if in.IsDir {
		return wire.StatusAccessDenied
	}
	m, err := c.srv.cfg.Store.ReadShareModes(r.ctx, state.FileKey{Dev: in.Dev, Ino: in.Ino})
	if err != nil {
		return statusOf(err)
	}
	if len(m.Entries) > 0 {
		return wire.StatusAccessDenied
	}
	return wire.StatusOK
}

// hasOpensBelow reports whether this process has opens inside directory rel.
func (srv *Server) hasOpensBelow(fs *vfs.FS, rel string) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, o := range srv.opens {
		if o.tree.share.fs == fs && strings.HasPrefix(o.rel, rel+"/") {
			return true
		}
	}
	return false
}

// variableInfo is a class with a variable tail. Like Windows, a buffer
// must hold sizeof() of the C structure (the fixed part plus one WCHAR,
// rounded up to the structure's alignment) before partial data is
// returned with BUFFER_OVERFLOW.
func variableInfo(b []byte, fixed, align int) (infoResult, wire.Status) {
	return infoResult{data: b, fixed: (fixed + 2 + align - 1) / align * align}, wire.StatusOK
}
