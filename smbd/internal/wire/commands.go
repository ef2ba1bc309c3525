package wire

import "encoding/binary"

var le = binary.LittleEndian

// SessionSetupRequest is a decoded SESSION_SETUP request.
type SessionSetupRequest struct {
	Flags             uint8
	SecurityMode      uint8
	Capabilities      uint32
	SecurityBuffer    []byte
	PreviousSessionID uint64
}

// SessionSetup flags and session flags.
const (
	SessionFlagBinding     uint8  = 0x01
	SessionFlagIsGuest     uint16 = 0x0001
	SessionFlagIsNull      uint16 = 0x0002
	SessionFlagEncryptData uint16 = 0x0004
)

// ParseSessionSetup decodes a SESSION_SETUP request element.
func ParseSessionSetup(msg []byte) (*SessionSetupRequest, error) {
	body, err := CheckBody(msg, CmdSessionSetup)
	if err != nil {
		return nil, err
	}
	r := &SessionSetupRequest{
		Flags:             body[2],
		SecurityMode:      body[3],
		Capabilities:      le.Uint32(body[4:]),
		PreviousSessionID: le.Uint64(body[16:]),
	}
	r.SecurityBuffer, err = Span(msg, uint32(le.Uint16(body[12:])), uint32(le.Uint16(body[14:])))
	return r, err
}

// AppendSessionSetupResponse appends the body with its security blob.
func AppendSessionSetupResponse(b []byte, flags uint16, blob []byte) []byte {
	b = le.AppendUint16(b, 9)
	b = le.AppendUint16(b, flags)
	b = le.AppendUint16(b, HeaderSize+8)
	b = le.AppendUint16(b, uint16(len(blob)))
	if len(blob) == 0 {
		return append(b, 0)
	}
	return append(b, blob...)
}

// AppendSimpleBody appends a 4-byte body (StructureSize 4, Reserved),
// the response of LOGOFF, TREE_DISCONNECT, FLUSH, ECHO and LOCK.
func AppendSimpleBody(b []byte) []byte {
	return append(b, 4, 0, 0, 0)
}

// TreeConnectRequest is a decoded TREE_CONNECT request.
type TreeConnectRequest struct {
	Flags uint16
	Path  string
}

// ParseTreeConnect decodes a TREE_CONNECT request element.
func ParseTreeConnect(msg []byte) (*TreeConnectRequest, error) {
	body, err := CheckBody(msg, CmdTreeConnect)
	if err != nil {
		return nil, err
	}
	r := &TreeConnectRequest{Flags: le.Uint16(body[2:])}
	off, n := uint32(le.Uint16(body[4:])), uint32(le.Uint16(body[6:]))
	p, err := Span(msg, off, n)
	if err != nil {
		return nil, err
	}
	r.Path, err = DecodeUTF16(p)
	return r, err
}

// Share types, flags and capabilities of the TREE_CONNECT response.
const (
	ShareTypeDisk uint8 = 1
	ShareTypePipe uint8 = 2

	ShareFlagNoCaching   uint32 = 0x00000030
	ShareFlagEncryptData uint32 = 0x00008000
	ShareCapCluster      uint32 = 0x00000040
)

// AppendTreeConnectResponse appends the 16-byte body.
func AppendTreeConnectResponse(b []byte, typ uint8, flags, caps, maxAccess uint32) []byte {
	b = le.AppendUint16(b, 16)
	b = append(b, typ, 0)
	b = le.AppendUint32(b, flags)
	b = le.AppendUint32(b, caps)
	return le.AppendUint32(b, maxAccess)
}

// CreateRequest is a decoded CREATE request; Name and Contexts point into
// the message.
type CreateRequest struct {
	OplockLevel        uint8
	ImpersonationLevel uint32
	DesiredAccess      uint32
	FileAttributes     uint32
	ShareAccess        uint32
	CreateDisposition  uint32
	CreateOptions      uint32
	NameRaw            []byte
	Contexts           []CreateContext
}

// CreateContext is one create context; Data points into the message.
type CreateContext struct {
	Name string
	Data []byte
}

// ParseCreate decodes a CREATE request element.
func ParseCreate(msg []byte) (*CreateRequest, error) {
	body, err := CheckBody(msg, CmdCreate)
	if err != nil {
		return nil, err
	}
	r := &CreateRequest{
		OplockLevel:        body[3],
		ImpersonationLevel: le.Uint32(body[4:]),
		DesiredAccess:      le.Uint32(body[24:]),
		FileAttributes:     le.Uint32(body[28:]),
		ShareAccess:        le.Uint32(body[32:]),
		CreateDisposition:  le.Uint32(body[36:]),
		CreateOptions:      le.Uint32(body[40:]),
	}
	nameOff, nameLen := uint32(le.Uint16(body[44:])), uint32(le.Uint16(body[46:]))
	if nameLen > 0 {
		if r.NameRaw, err = Span(msg, nameOff, nameLen); err != nil {
			return nil, err
		}
	}
	ctxOff, ctxLen := le.Uint32(body[48:]), le.Uint32(body[52:])
	if ctxLen == 0 {
		return r, nil
	}
	raw, err := Span(msg, ctxOff, ctxLen)
	if err != nil {
		return nil, err
	}
	r.Contexts, err = ParseCreateContexts(raw)
	return r, err
}

// ParseCreateContexts splits a create-context chain ([MS-SMB2] §2.2.13.2).
func ParseCreateContexts(raw []byte) ([]CreateContext, error) {
	var out []CreateContext
	for len(raw) > 0 {
		if len(raw) < 16 {
			return nil, ErrBadContext
		}
		next := le.Uint32(raw)
		nameOff, nameLen := uint32(le.Uint16(raw[4:])), uint32(le.Uint16(raw[6:]))
		dataOff, dataLen := uint32(le.Uint16(raw[10:])), le.Uint32(raw[12:])
		limit := uint64(len(raw))
		if next != 0 {
			if next%8 != 0 || uint64(next) > limit || next < 16 {
				return nil, ErrBadContext
			}
			limit = uint64(next)
		}
		if nameLen == 0 || uint64(nameOff)+uint64(nameLen) > limit || nameOff < 16 {
			return nil, ErrBadContext
		}
		c := CreateContext{Name: string(raw[nameOff : nameOff+nameLen])}
		if dataLen > 0 {
			if uint64(dataOff)+uint64(dataLen) > limit || dataOff < 16 {
				return nil, ErrBadContext
			}
			c.Data = raw[dataOff : dataOff+dataLen]
		}
		out = append(out, c)
		if next == 0 {
			break
		}
		raw = raw[next:]
	}
	return out, nil
}

// AppendCreateContexts encodes a chain of create contexts, 8-byte aligned.
func AppendCreateContexts(b []byte, ctxs []CreateContext) []byte {
	return AppendChained(b, len(ctxs), 8, func(b []byte, i int) []byte {
		c := ctxs[i]
		start := len(b)
		b = le.AppendUint32(b, 0) // Next, patched by AppendChained
		b = le.AppendUint16(b, 16)
		b = le.AppendUint16(b, uint16(len(c.Name)))
		b = le.AppendUint16(b, 0)
		dataOff := 0
		if len(c.Data) > 0 {
			dataOff = (16 + len(c.Name) + 7) &^ 7
		}
		b = le.AppendUint16(b, uint16(dataOff))
		b = le.AppendUint32(b, uint32(len(c.Data)))
		b = append(b, c.Name...)
		for len(b)-start < dataOff {
			b = append(b, 0)
		}
		return append(b, c.Data...)
	})
}

// FileTimes are the four FILETIME stamps, size fields and attributes that
// CREATE and CLOSE responses and several info classes carry.
type FileTimes struct {
	Creation, LastAccess, LastWrite, Change uint64
	AllocationSize, EndOfFile               uint64
	Attributes                              uint32
}

// AppendFileTimes appends the timestamps, allocation size, end of file
// and attributes in the order CREATE, CLOSE and FileNetworkOpenInformation
// share.
func AppendFileTimes(b []byte, t *FileTimes) []byte {
	b = le.AppendUint64(b, t.Creation)
	b = le.AppendUint64(b, t.LastAccess)
	b = le.AppendUint64(b, t.LastWrite)
	b = le.AppendUint64(b, t.Change)
	b = le.AppendUint64(b, t.AllocationSize)
	b = le.AppendUint64(b, t.EndOfFile)
	return le.AppendUint32(b, t.Attributes)
}

// CreateResponse is the CREATE response.
type CreateResponse struct {
	OplockLevel  uint8
	Flags        uint8
	CreateAction uint32
	Times        FileTimes
	FileID       FileID
	Contexts     []CreateContext
}

// AppendCreateResponse appends the body; hdrStart is where the header of
// this element starts in b.
func AppendCreateResponse(b []byte, hdrStart int, r *CreateResponse) []byte {
	b = le.AppendUint16(b, 89)
	b = append(b, r.OplockLevel, r.Flags)
	b = le.AppendUint32(b, r.CreateAction)
	b = AppendFileTimes(b, &r.Times)
	b = le.AppendUint32(b, 0)
	b = AppendFileID(b, r.FileID)
	ctxPos := len(b)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, 0)
	if len(r.Contexts) == 0 {
		return append(b, 0)
	}
	for (len(b)-hdrStart)%8 != 0 {
		b = append(b, 0)
	}
	off := len(b) - hdrStart
	b = AppendCreateContexts(b, r.Contexts)
	le.PutUint32(b[ctxPos:], uint32(off))
	le.PutUint32(b[ctxPos+4:], uint32(len(b)-hdrStart-off))
	return b
}

// HandleRequest is the common shape of CLOSE and FLUSH requests.
type HandleRequest struct {
	Flags  uint16
	FileID FileID
}

// ParseClose decodes a CLOSE request element.
func ParseClose(msg []byte) (*HandleRequest, error) {
	body, err := CheckBody(msg, CmdClose)
	if err != nil {
		return nil, err
	}
	return &HandleRequest{Flags: le.Uint16(body[2:]), FileID: getFileID(body[8:])}, nil
}

// ParseFlush decodes a FLUSH request element.
func ParseFlush(msg []byte) (*HandleRequest, error) {
	body, err := CheckBody(msg, CmdFlush)
	if err != nil {
		return nil, err
	}
	return &HandleRequest{FileID: getFileID(body[8:])}, nil
}

// ClosePostQueryAttrib asks CLOSE to return the file's attributes.
const ClosePostQueryAttrib uint16 = 0x0001

// AppendCloseResponse appends the 60-byte body; t nil means zeros.
func AppendCloseResponse(b []byte, flags uint16, t *FileTimes) []byte {
	b = le.AppendUint16(b, 60)
	b = le.AppendUint16(b, flags)
	b = le.AppendUint32(b, 0)
	if t == nil {
		t = &FileTimes{}
	}
	return AppendFileTimes(b, t)
}

// ReadRequest is a decoded READ request.
type ReadRequest struct {
	Padding      uint8
	Flags        uint8
	Length       uint32
	Offset       uint64
	FileID       FileID
	MinimumCount uint32
	Channel      uint32
}

// ParseRead decodes a READ request element.
func ParseRead(msg []byte) (*ReadRequest, error) {
	body, err := CheckBody(msg, CmdRead)
	if err != nil {
		return nil, err
	}
	return &ReadRequest{
		Padding:      body[2],
		Flags:        body[3],
		Length:       le.Uint32(body[4:]),
		Offset:       le.Uint64(body[8:]),
		FileID:       getFileID(body[16:]),
		MinimumCount: le.Uint32(body[32:]),
		Channel:      le.Uint32(body[36:]),
	}, nil
}

// ReadResponseHeaderSize is the fixed part of a READ response body; the
// data follows at offset HeaderSize+16.
const ReadResponseHeaderSize = 16

// AppendReadResponseHeader appends the fixed READ response body; the
// caller appends the n data bytes.
func AppendReadResponseHeader(b []byte, n uint32) []byte {
	b = le.AppendUint16(b, 17)
	b = append(b, HeaderSize+16, 0)
	b = le.AppendUint32(b, n)
	b = le.AppendUint32(b, 0)
	return le.AppendUint32(b, 0)
}

// WriteRequest is a decoded WRITE request; Data points into the message.
type WriteRequest struct {
	Offset  uint64
	FileID  FileID
	Channel uint32
	Flags   uint32
	Data    []byte
}

// ParseWrite decodes a WRITE request element.
func ParseWrite(msg []byte) (*WriteRequest, error) {
	r, err := ParseWriteHead(msg)
	if err != nil {
		return nil, err
	}
	body := msg[HeaderSize:]
	r.Data, err = Span(msg, uint32(le.Uint16(body[2:])), le.Uint32(body[4:]))
	return r, err
}

// AppendWriteResponse appends the 17-byte WRITE response body.
func AppendWriteResponse(b []byte, count uint32) []byte {
	b = le.AppendUint16(b, 17)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint32(b, count)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, 0)
	return append(b, 0)
}

// Lock flags ([MS-SMB2] §2.2.26.1).
const (
	LockShared          uint32 = 0x1
	LockExclusive       uint32 = 0x2
	LockUnlock          uint32 = 0x4
	LockFailImmediately uint32 = 0x10
)

// LockElement is one byte range of a LOCK request.
type LockElement struct {
	Offset, Length uint64
	Flags          uint32
}

// LockRequest is a decoded LOCK request.
type LockRequest struct {
	LockSequence uint32
	FileID       FileID
	Locks        []LockElement
}

// ParseLock decodes a LOCK request element.
func ParseLock(msg []byte) (*LockRequest, error) {
	body, err := CheckBody(msg, CmdLock)
	if err != nil {
		return nil, err
	}
	n := int(le.Uint16(body[2:]))
	r := &LockRequest{LockSequence: le.Uint32(body[4:]), FileID: getFileID(body[8:])}
	if n == 0 {
		return r, nil
	}
	if len(body) < 24+24*n {
		return nil, ErrOutOfBounds
	}
	r.Locks = make([]LockElement, n)
	for i := range r.Locks {
		e := body[24+24*i:]
		r.Locks[i] = LockElement{Offset: le.Uint64(e), Length: le.Uint64(e[8:]), Flags: le.Uint32(e[16:])}
	}
	return r, nil
}

// IoctlRequest is a decoded IOCTL request; Input points into the message.
type IoctlRequest struct {
	CtlCode           uint32
	FileID            FileID
	Input             []byte
	MaxInputResponse  uint32
	MaxOutputResponse uint32
	Flags             uint32
}

// IoctlIsFsctl is the only IOCTL request flag.
const IoctlIsFsctl uint32 = 0x1

// ParseIoctl decodes an IOCTL request element.
func ParseIoctl(msg []byte) (*IoctlRequest, error) {
	body, err := CheckBody(msg, CmdIoctl)
	if err != nil {
		return nil, err
	}
	r := &IoctlRequest{
		CtlCode:           le.Uint32(body[4:]),
		FileID:            getFileID(body[8:]),
		MaxInputResponse:  le.Uint32(body[32:]),
		MaxOutputResponse: le.Uint32(body[44:]),
		Flags:             le.Uint32(body[48:]),
	}
	r.Input, err = Span(msg, le.Uint32(body[24:]), le.Uint32(body[28:]))
	return r, err
}

// AppendIoctlResponse appends the IOCTL response body with its output.
func AppendIoctlResponse(b []byte, ctl uint32, fid FileID, in, out []byte) []byte {
	b = le.AppendUint16(b, 49)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint32(b, ctl)
	b = AppendFileID(b, fid)
	dataOff := uint32(HeaderSize + 48)
	inOff := uint32(0)
	if len(in) > 0 {
		inOff = dataOff
	}
	outOff := dataOff + uint32((len(in)+7)&^7)
	if len(out) == 0 {
		outOff = 0
	}
	b = le.AppendUint32(b, inOff)
	b = le.AppendUint32(b, uint32(len(in)))
	b = le.AppendUint32(b, outOff)
	b = le.AppendUint32(b, uint32(len(out)))
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, 0)
	b = append(b, in...)
	for i := len(in); i%8 != 0; i++ {
		b = append(b, 0)
	}
	return append(b, out...)
}

// QueryDirectoryRequest is a decoded QUERY_DIRECTORY request.
type QueryDirectoryRequest struct {
	InfoClass          uint8
	Flags              uint8
	FileIndex          uint32
	FileID             FileID
	Pattern            string
	OutputBufferLength uint32
}

// QUERY_DIRECTORY flags.
const (
	QDRestartScans      uint8 = 0x01
	QDReturnSingleEntry uint8 = 0x02
	QDIndexSpecified    uint8 = 0x04
	QDReopen            uint8 = 0x10
)

// ParseQueryDirectory decodes a QUERY_DIRECTORY request element.
func ParseQueryDirectory(msg []byte) (*QueryDirectoryRequest, error) {
	body, err := CheckBody(msg, CmdQueryDirectory)
	if err != nil {
		return nil, err
	}
	r := &QueryDirectoryRequest{
		InfoClass:          body[2],
		Flags:              body[3],
		FileIndex:          le.Uint32(body[4:]),
		FileID:             getFileID(body[8:]),
		OutputBufferLength: le.Uint32(body[28:]),
	}
	p, err := Span(msg, uint32(le.Uint16(body[24:])), uint32(le.Uint16(body[26:])))
	if err != nil {
		return nil, err
	}
	r.Pattern, err = DecodeUTF16(p)
	return r, err
}

// AppendBufferResponse appends the 9-byte body shared by QUERY_DIRECTORY
// and QUERY_INFO responses, followed by the output.
func AppendBufferResponse(b []byte, out []byte) []byte {
	b = le.AppendUint16(b, 9)
	off := uint16(HeaderSize + 8)
	if len(out) == 0 {
		off = 0
	}
	b = le.AppendUint16(b, off)
	b = le.AppendUint32(b, uint32(len(out)))
	if len(out) == 0 {
		return append(b, 0)
	}
	return append(b, out...)
}

// Info types of QUERY_INFO and SET_INFO.
const (
	InfoFile       uint8 = 1
	InfoFilesystem uint8 = 2
	InfoSecurity   uint8 = 3
	InfoQuota      uint8 = 4
)

// QueryInfoRequest is a decoded QUERY_INFO request.
type QueryInfoRequest struct {
	InfoType           uint8
	InfoClass          uint8
	OutputBufferLength uint32
	Input              []byte
	AdditionalInfo     uint32
	Flags              uint32
	FileID             FileID
}

// ParseQueryInfo decodes a QUERY_INFO request element.
func ParseQueryInfo(msg []byte) (*QueryInfoRequest, error) {
	body, err := CheckBody(msg, CmdQueryInfo)
	if err != nil {
		return nil, err
	}
	r := &QueryInfoRequest{
		InfoType:           body[2],
		InfoClass:          body[3],
		OutputBufferLength: le.Uint32(body[4:]),
		AdditionalInfo:     le.Uint32(body[16:]),
		Flags:              le.Uint32(body[20:]),
		FileID:             getFileID(body[24:]),
	}
	r.Input, err = Span(msg, uint32(le.Uint16(body[8:])), le.Uint32(body[12:]))
	return r, err
}

// SetInfoRequest is a decoded SET_INFO request.
type SetInfoRequest struct {
	InfoType       uint8
	InfoClass      uint8
	Buffer         []byte
	AdditionalInfo uint32
	FileID         FileID
}

// ParseSetInfo decodes a SET_INFO request element.
func ParseSetInfo(msg []byte) (*SetInfoRequest, error) {
	body, err := CheckBody(msg, CmdSetInfo)
	if err != nil {
		return nil, err
	}
	r := &SetInfoRequest{
		InfoType:       body[2],
		InfoClass:      body[3],
		AdditionalInfo: le.Uint32(body[12:]),
		FileID:         getFileID(body[16:]),
	}
	r.Buffer, err = Span(msg, uint32(le.Uint16(body[8:])), le.Uint32(body[4:]))
	return r, err
}

// AppendSetInfoResponse appends the 2-byte SET_INFO response body.
func AppendSetInfoResponse(b []byte) []byte { return append(b, 2, 0) }

// ChangeNotifyRequest is a decoded CHANGE_NOTIFY request.
type ChangeNotifyRequest struct {
	Flags              uint16
	OutputBufferLength uint32
	FileID             FileID
	CompletionFilter   uint32
}

// ParseChangeNotify decodes a CHANGE_NOTIFY request element.
func ParseChangeNotify(msg []byte) (*ChangeNotifyRequest, error) {
	body, err := CheckBody(msg, CmdChangeNotify)
	if err != nil {
		return nil, err
	}
	return &ChangeNotifyRequest{
		Flags:              le.Uint16(body[2:]),
		OutputBufferLength: le.Uint32(body[4:]),
		FileID:             getFileID(body[8:]),
		CompletionFilter:   le.Uint32(body[24:]),
	}, nil
}
