package server

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"gctdb/smbd/internal/state"
	"gctdb/smbd/internal/vfs"
	"gctdb/smbd/internal/wire"
)

const (
	statusBadImpersonationLevel wire.Status = 0xC00000A5
	// accessReservedBits may never be requested.
	accessReservedBits uint32 = 0x0CE0FE00
	// createOptionsNotSupported are options smbd refuses.
	createOptionsNotSupported = wire.OptOpenByFileID | 0x00000080 /* FILE_CREATE_TREE_CONNECTION */ | 0x00000400 /* FILE_OPEN_REMOTE_INSTANCE */ |
		0x00010000 /* FILE_RESERVE_OPFILTER... */
)

// mapGenericAccess expands GENERIC_* bits ([MS-SMB2] §2.2.13.1.1).
func mapGenericAccess(a uint32) uint32 {
	if a&wire.GenericRead != 0 {
		a |= wire.FileGenericRead
	}
	if a&wire.GenericWrite != 0 {
		a |= wire.FileGenericWrite
	}
	if a&wire.GenericExecute != 0 {
		a |= wire.FileGenericExecute
	}
	if a&wire.GenericAll != 0 {
		a |= wire.FileAllAccess
	}
	return a &^ (wire.GenericRead | wire.GenericWrite | wire.GenericExecute | wire.GenericAll)
}

const writeAccess = wire.FileWriteData | wire.FileAppendData | wire.FileWriteEA | wire.FileWriteAttributes |
	wire.Delete | wire.WriteDAC | wire.WriteOwner | wire.FileDeleteChild

func (c *conn) handleCreate(r *request) wire.Status {
	req, err := wire.ParseCreate(r.msg)
	if err != nil {
		return wire.StatusInvalidParameter
	}
	if r.tree.share.pipe {
		return c.createPipe(r, req)
	}
	st, w := c.doCreate(r, req)
	if w == nil {
		return st
	}
	if !r.last {
		// Inside a compound the rest of the chain needs this open: wait
		// for the breaks here.
		return c.waitBreaksInline(r, req, w)
	}
	// Oplock breaks are out: finish the open asynchronously once the
	// holders acknowledged, closed, or the break timed out.
	deadline := time.Now().Add(oplockBreakTimeout)
	return r.goAsync(nil, func(ctx context.Context, cancelled <-chan wire.Status) (wire.Status, []byte) {
		for {
			timer := time.NewTimer(time.Until(deadline))
			select {
			case st := <-cancelled:
				timer.Stop()
				w.cancel()
				return st, nil
			case <-ctx.Done():
				timer.Stop()
				w.cancel()
				return wire.StatusCancelled, nil
			case <-w.changed:
				timer.Stop()
			case <-timer.C:
				w.cancel()
				c.srv.expireBreaks(ctx, w.key)
			}
			w.cancel()
			r2 := *r
			r2.out = make([]byte, wire.HeaderSize, 256)
			st, w = c.doCreate(&r2, req)
			if w == nil {
				if st != wire.StatusOK {
					return st, nil
				}
				return st, r2.out[wire.HeaderSize:]
			}
		}
	})
}

func (c *conn) waitBreaksInline(r *request, req *wire.CreateRequest, w *breakWait) wire.Status {
	deadline := time.NewTimer(oplockBreakTimeout)
	defer deadline.Stop()
	for {
		select {
		case <-w.changed:
		case <-deadline.C:
			w.cancel()
			c.srv.expireBreaks(r.ctx, w.key)
		case <-r.ctx.Done():
			w.cancel()
			return wire.StatusCancelled
		}
		w.cancel()
		r.out = r.out[:wire.HeaderSize]
		st, next := c.doCreate(r, req)
		if next == nil {
			return st
		}
		w = next
	}
}

// breakWait is a create waiting for oplock breaks on key.
type breakWait struct {
	key     state.FileKey
	changed <-chan struct{}
	cancel  func()
}

// statusRetryCreate is a pseudo status of createOnce: a sharing violation
// caused by opens of a process that is gone, which were dropped.
const statusRetryCreate wire.Status = 0xFFFFFFFE

// doCreate runs one attempt of a CREATE. A non-nil breakWait means the
// open must wait for oplock breaks it has started.
func (c *conn) doCreate(r *request, req *wire.CreateRequest) (wire.Status, *breakWait) {
	st := c.createOnce(r, req)
	if st == statusRetryCreate {
		// Opens of a process that is gone were in the way and are gone
		// now: once more.
		r.out = r.out[:wire.HeaderSize]
		if st = c.createOnce(r, req); st == statusRetryCreate {
			st = wire.StatusSharingViolation
		}
	}
	if w, ok := r.breakWait.(*breakWait); ok {
		r.breakWait = nil
		return st, w
	}
	return st, nil
}

func (c *conn) createOnce(r *request, req *wire.CreateRequest) wire.Status {
	var err error
	if req.ImpersonationLevel > 3 {
		return statusBadImpersonationLevel
	}
	if req.CreateDisposition > wire.FileOverwriteIf {
		return wire.StatusInvalidParameter
	}
	opts := req.CreateOptions
	if opts&wire.OptDirectoryFile != 0 && opts&wire.OptNonDirectoryFile != 0 {
		return wire.StatusInvalidParameter
	}
	if opts&createOptionsNotSupported != 0 || opts&0xFF000000 != 0 {
		return wire.StatusNotSupported
	}
	if req.FileAttributes&^wire.AttrValidSet != 0 {
		return wire.StatusInvalidParameter
	}
	if req.DesiredAccess&accessReservedBits != 0 {
		return wire.StatusAccessDenied
	}
	if req.DesiredAccess&wire.AccessSystemSecurity != 0 {
		return wire.StatusPrivilegeNotHeld
	}
	if req.ShareAccess&^uint32(7) != 0 {
		return wire.StatusInvalidParameter
	}
	if len(req.NameRaw)%2 != 0 {
		return wire.StatusInvalidParameter
	}
	ctxs, st := checkCreateContexts(req.Contexts)
	if st != wire.StatusOK {
		return st
	}
	winName, err := wire.DecodeUTF16(req.NameRaw)
	if err != nil {
		return wire.StatusObjectNameInvalid
	}
	if strings.HasPrefix(winName, "\\") {
		return wire.StatusInvalidParameter
	}
	winName, stream, st := splitStream(winName)
	if st != wire.StatusOK {
		return st
	}
	rel, err := vfs.CleanName(winName)
	if err != nil {
		return statusOf(err)
	}
	fs := r.tree.share.fs
	rel, lerr := fs.Lookup(rel)
	exists := lerr == nil
	if lerr != nil && !errors.Is(lerr, vfs.ErrNotFound) {
		return statusOf(lerr)
	}
	if stream != "" {
		return c.createStream(r, req, rel, stream, exists)
	}
	disp := req.CreateDisposition
	if exists {
		if disp == wire.FileCreate {
			return wire.StatusObjectNameCollision
		}
	} else if disp == wire.FileOpen || disp == wire.FileOverwrite {
		return wire.StatusObjectNameNotFound
	}
	if rel == "" && disp != wire.FileOpen && disp != wire.FileOpenIf {
		return wire.StatusAccessDenied
	}

	access := mapGenericAccess(req.DesiredAccess)
	maxAccess := r.tree.maxAccess
	o := &open{tree: r.tree, sess: r.sess, share: req.ShareAccess, rel: rel}
	var f *os.File
	action := wire.FileOpened
	created := false
	if !exists {
		wantDir := opts&wire.OptDirectoryFile != 0
		if r.tree.readOnly {
			return wire.StatusAccessDenied
		}
		if wantDir && req.FileAttributes&wire.AttrTemporary != 0 {
			return wire.StatusInvalidParameter
		}
		if access&wire.MaximumAllowed != 0 {
			access |= maxAccess
		}
		if wantDir {
			if err := fs.Mkdir(rel, 0o755); err != nil {
				return statusOf(err)
			}
			f, err = fs.OpenFile(rel, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
		} else {
			f, err = fs.CreateFile(rel, 0o644)
		}
		if err != nil {
			return statusOf(err)
		}
		created, action = true, wire.FileCreated
		attrs := req.FileAttributes &^ (wire.AttrDirectory | wire.AttrNormal)
		if !wantDir {
			attrs |= wire.AttrArchive
		}
		// The creator owns the file: the owner's implicit rights in
		// access checks depend on it.
		m := vfs.Meta{Attrs: attrs, Creation: vfs.FileTime(time.Now()), Owner: c.srv.ownerSID(r.sess)}
		if err := vfs.SetMeta(f, m); err != nil {
			c.log.Debug("store dos attributes", "err", err)
		}
	} else {
		f, err = fs.OpenFile(rel, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW, 0)
		if errors.Is(err, unix.ELOOP) {
			f, err = fs.OpenFile(rel, unix.O_RDONLY|unix.O_NONBLOCK, 0)
		}
		if err != nil {
			return statusOf(err)
		}
	}
	info, err := vfs.Stat(f)
	if err != nil {
		f.Close()
		return statusOf(err)
	}
	fail := func(st wire.Status) wire.Status {
		f.Close()
		if created {
			fs.Remove(rel, info.IsDir)
		}
		return st
	}
	if !info.IsDir && info.Mode&unix.S_IFMT != unix.S_IFREG {
		return fail(wire.StatusAccessDenied)
	}
	o.isDir = info.IsDir
	if o.isDir && opts&wire.OptNonDirectoryFile != 0 {
		return fail(wire.StatusFileIsADirectory)
	}
	if !o.isDir && opts&wire.OptDirectoryFile != 0 {
		return fail(wire.StatusNotADirectory)
	}
	if o.isDir && (disp == wire.FileOverwrite || disp == wire.FileOverwriteIf || disp == wire.FileSupersede) {
		return fail(wire.StatusInvalidParameter)
	}
	readonlyAttr := info.Attrs&wire.AttrReadonly != 0
	if readonlyAttr && !o.isDir {
		maxAccess &^= wire.FileWriteData | wire.FileAppendData | wire.FileWriteEA
	}
	if !created {
		if raw := vfs.GetSD(f); raw != nil {
			if sd, err := parseSD(raw); err == nil {
				granted := grantedBy(sd, c.srv.token(r.sess)) | wire.Synchronize
				if granted&wire.Delete == 0 && c.parentAllowsDelete(r, rel) {
					granted |= wire.Delete
				}
				maxAccess &= granted
			}
		}
	}
	if access&wire.MaximumAllowed != 0 {
		access |= maxAccess
	}
	access &^= wire.MaximumAllowed
	if !created {
		if access&^maxAccess != 0 {
			if readonlyAttr && access&(wire.FileWriteData|wire.FileAppendData) != 0 && !r.tree.readOnly {
				return fail(wire.StatusAccessDenied)
			}
			return fail(wire.StatusAccessDenied)
		}
	}
	truncate := exists && (disp == wire.FileOverwrite || disp == wire.FileOverwriteIf || disp == wire.FileSupersede)
	if truncate && (r.tree.readOnly || readonlyAttr) {
		return fail(wire.StatusAccessDenied)
	}
	if opts&wire.OptDeleteOnClose != 0 {
		if access&wire.Delete == 0 {
			return fail(wire.StatusAccessDenied)
		}
		if readonlyAttr {
			return fail(wire.StatusCannotDelete)
		}
		if r.tree.readOnly {
			return fail(wire.StatusAccessDenied)
		}
		o.deleteOnClose = true
	}
	o.access = access
	if !o.isDir && (access&(wire.FileWriteData|wire.FileAppendData) != 0 || truncate) {
		// Reopen read-write through the already verified descriptor.
		rw, err := os.OpenFile("/proc/self/fd/"+itoa(int(f.Fd())), os.O_RDWR, 0)
		if err != nil {
			return fail(statusOf(err))
		}
		f.Close()
		f = rw
	}
	o.f = f
	o.key = state.FileKey{Dev: info.Dev, Ino: info.Ino}
	c.srv.registerOpen(o)
	entry := state.ShareEntry{Open: o.ref, Access: access, ShareAccess: req.ShareAccess}
	if state.IsStatOpen(access) {
		entry.Flags |= state.ShareFlagStatOpen
	}
	var breaks []state.ShareEntry
	var others []state.Process // other processes' opens in the way
	breakTo := uint8(oplockII)
	if truncate {
		breakTo = oplockNone
	}
	changed, cancelWatch, err := c.srv.cfg.Store.ModifyShareModesOrWatch(r.ctx, o.key, func(m *state.ShareModes) error {
		breaks = breaks[:0]
		if m.DeletePending {
			return wire.StatusDeletePending
		}
		// Batch oplocks break before the share-mode check (the client may
		// be caching a closed handle); exclusive ones only when the open
		// would otherwise succeed.
		if !state.IsStatOpen(access) && markBreaks(m, breakTo, &breaks, true) {
			others = m.Owners(c.srv.self)
			return state.ErrWait
		}
		if m.Conflicts(access, req.ShareAccess) {
			others = m.Owners(c.srv.self)
			return wire.StatusSharingViolation
		}
		if !state.IsStatOpen(access) && markBreaks(m, breakTo, &breaks, false) {
			others = m.Owners(c.srv.self)
			return state.ErrWait
		}
		entry.OplockLevel = grantOplock(m, req.OplockLevel, o.isDir, access)
		m.Name = rel
		m.Entries = append(m.Entries, entry)
		return nil
	})
	if err != nil {
		c.srv.mu.Lock()
		delete(c.srv.opens, o.id.Volatile)
		c.srv.mu.Unlock()
		f.Close()
		if errors.Is(err, state.ErrWait) {
			for _, e := range breaks {
				c.srv.sendOplockBreak(e.Open, e.BreakTo)
			}
			r.breakWait = &breakWait{key: o.key, changed: changed, cancel: cancelWatch}
			// Holders that are gone never answer: dropping their opens
			// is the change the watch waits for.
			c.srv.dropGoneOwners(r.ctx, o.key, others)
			return wire.StatusPending
		}
		if created {
			fs.Remove(rel, info.IsDir)
		}
		if errors.Is(err, wire.StatusSharingViolation) && c.srv.dropGoneOwners(r.ctx, o.key, others) {
			return statusRetryCreate
		}
		return statusOf(err)
	}
	o.mu.Lock()
	o.oplock = entry.OplockLevel
	o.mu.Unlock()
	if entry.OplockLevel == oplockII {
		c.srv.adjustLevelII(r.ctx, o.key, 1)
	}
	if truncate {
		if err := f.Truncate(0); err != nil {
			c.srv.closeOpen(r.ctx, o)
			return statusOf(err)
		}
		attrs := req.FileAttributes&^(wire.AttrDirectory|wire.AttrNormal) | wire.AttrArchive
		m := vfs.GetMeta(f)
		m.Attrs, m.Valid = attrs, true
		if m.Creation == 0 {
			m.Creation = info.Creation
		}
		vfs.SetMeta(f, m)
		action = wire.FileOverwritten
		if disp == wire.FileSupersede {
			action = wire.FileSuperseded
		}
		info, _ = vfs.Stat(f)
	}
	if raw, ok := ctxs["SecD"]; ok && created {
		in, err := parseSD(raw)
		if err != nil {
			c.srv.closeOpen(r.ctx, o)
			fs.Remove(rel, info.IsDir)
			return wire.StatusInvalidSecurityDescriptor
		}
		sd, err := c.fileSD(o)
		if err == nil {
			parts := uint32(secOwner | secGroup | secSACL)
			if in.control&seDACLPresent != 0 {
				parts |= secDACL // otherwise the default DACL stays
			}
			sd.merge(in, parts)
			err = vfs.SetSD(f, sd.encode(secOwner|secGroup|secDACL|secSACL))
		}
		if err != nil {
			c.log.Debug("store security descriptor", "err", err)
		}
	}
	if ea, ok := ctxs["ExtA"]; ok && !o.isDir || ok && created {
		eas, st := parseFullEAs(ea)
		if st == wire.StatusOK {
			st = setEAs(f, eas)
		}
		if st != wire.StatusOK {
			c.srv.closeOpen(r.ctx, o)
			if created {
				fs.Remove(rel, info.IsDir)
			}
			return st
		}
	}
	resp := wire.CreateResponse{
		OplockLevel:  entry.OplockLevel,
		CreateAction: action,
		FileID:       o.id,
		Times:        timesOf(&info),
	}
	if _, ok := ctxs["MxAc"]; ok {
		d := binary.LittleEndian.AppendUint32(nil, 0)
		d = binary.LittleEndian.AppendUint32(d, maxAccess)
		resp.Contexts = append(resp.Contexts, wire.CreateContext{Name: "MxAc", Data: d})
	}
	if _, ok := ctxs["QFid"]; ok {
		d := binary.LittleEndian.AppendUint64(nil, info.Ino)
		d = binary.LittleEndian.AppendUint64(d, fs.FsID())
		d = append(d, make([]byte, 16)...)
		resp.Contexts = append(resp.Contexts, wire.CreateContext{Name: "QFid", Data: d})
	}
	r.out = wire.AppendCreateResponse(r.out, 0, &resp)
	r.ch.fileID = o.id
	return wire.StatusOK
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// timesOf converts vfs.Info into the response form.
func timesOf(in *vfs.Info) wire.FileTimes {
	return wire.FileTimes{
		Creation: in.Creation, LastAccess: in.LastAccess, LastWrite: in.LastWrite, Change: in.Change,
		AllocationSize: in.Allocation, EndOfFile: in.Size, Attributes: in.Attrs,
	}
}

// stripDataStream removes a "::$DATA" suffix; other streams are not
// supported yet.
func stripDataStream(name string) (string, wire.Status) {
	i := strings.IndexByte(name, ':')
	if i < 0 {
		return name, wire.StatusOK
	}
	base, stream := name[:i], name[i:]
	if strings.EqualFold(stream, "::$DATA") {
		return base, wire.StatusOK
	}
	return "", wire.StatusObjectNameInvalid
}

// checkCreateContexts rejects duplicate or malformed contexts.
func checkCreateContexts(cs []wire.CreateContext) (map[string][]byte, wire.Status) {
	m := make(map[string][]byte, len(cs))
	for _, c := range cs {
		if _, dup := m[c.Name]; dup {
			return nil, wire.StatusInvalidParameter
		}
		m[c.Name] = c.Data
	}
	if d, ok := m["MxAc"]; ok && len(d) != 0 && len(d) != 8 {
		return nil, wire.StatusInvalidParameter
	}
	return m, wire.StatusOK
}
