package server

import "gctdb/smbd/internal/wire"

// dispatch runs the handler of r's command.
func (c *conn) dispatch(r *request) wire.Status {
	switch r.hdr.Command {
	case wire.CmdNegotiate:
		return c.handleNegotiate(r)
	case wire.CmdSessionSetup:
		return c.handleSessionSetup(r)
	case wire.CmdLogoff:
		return c.handleLogoff(r)
	case wire.CmdTreeConnect:
		return c.handleTreeConnect(r)
	case wire.CmdTreeDisconnect:
		return c.handleTreeDisconnect(r)
	case wire.CmdCreate:
		return c.handleCreate(r)
	case wire.CmdClose:
		return c.handleClose(r)
	case wire.CmdFlush:
		return c.handleFlush(r)
	case wire.CmdRead:
		return c.handleRead(r)
	case wire.CmdWrite:
		return c.handleWrite(r)
	case wire.CmdLock:
		return c.handleLock(r)
	case wire.CmdIoctl:
		return c.handleIoctl(r)
	case wire.CmdEcho:
		r.out = wire.AppendSimpleBody(r.out)
		return wire.StatusOK
	case wire.CmdQueryDirectory:
		return c.handleQueryDirectory(r)
	case wire.CmdQueryInfo:
		return c.handleQueryInfo(r)
	case wire.CmdSetInfo:
		return c.handleSetInfo(r)
	case wire.CmdOplockBreak:
		return c.handleOplockBreak(r)
	case wire.CmdChangeNotify:
		return c.handleChangeNotify(r)
	}
	return wire.StatusInvalidParameter
}
