package server

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"gctdb/smbd/internal/wire"
)

// tree is a tree connect of a session to a share.
type tree struct {
	id        uint32
	sess      *session
	share     *share
	encrypt   bool
	readOnly  bool
	maxAccess uint32
}

func (c *conn) handleTreeConnect(r *request) wire.Status {
	req, err := wire.ParseTreeConnect(r.msg)
	if err != nil {
		return wire.StatusInvalidParameter
	}
	name := req.Path
	if i := strings.LastIndexByte(name, '\\'); i >= 0 {
		name = name[i+1:]
	}
	if !strings.HasPrefix(req.Path, "\\\\") || name == "" {
		return wire.StatusBadNetworkName
	}
	sh := c.srv.shares[strings.ToLower(name)]
	if sh == nil {
		return wire.StatusBadNetworkName
	}
	s := r.sess
	if !sh.pipe {
		if (s.anonymous || s.guest) && !sh.cfg.GuestOK {
			return wire.StatusAccessDenied
		}
		if len(sh.cfg.ValidUsers) > 0 && !containsFold(sh.cfg.ValidUsers, s.user) {
			return wire.StatusAccessDenied
		}
	}
	t := &tree{sess: s, share: sh, readOnly: sh.cfg.ReadOnly}
	var flags uint32
	if !sh.pipe && sh.cfg.Encrypt != EncryptOff {
		if s.enc == nil || c.dialect < wire.Dialect300 {
			if sh.cfg.Encrypt == EncryptRequired {
				return wire.StatusAccessDenied
			}
		} else {
			flags |= wire.ShareFlagEncryptData
			t.encrypt = sh.cfg.Encrypt == EncryptRequired
		}
	}
	if s.encryptData && c.dialect >= wire.Dialect300 {
		flags |= wire.ShareFlagEncryptData
	}
	t.maxAccess = wire.FileAllAccess
	if t.readOnly {
		t.maxAccess = wire.FileGenericRead | wire.FileGenericExecute
	}
	typ := wire.ShareTypeDisk
	var caps uint32
	if c.srv.cfg.Clustered && !sh.pipe && c.dialect >= wire.Dialect300 {
		caps |= wire.ShareCapCluster
	}
	if sh.pipe {
		typ = wire.ShareTypePipe
		flags |= wire.ShareFlagNoCaching
	}
	s.mu.Lock()
	s.nextTree++
	t.id = s.nextTree
	s.trees[t.id] = t
	s.mu.Unlock()
	r.hdr.TreeID = t.id
	r.out = wire.AppendTreeConnectResponse(r.out, typ, flags, caps, t.maxAccess)
	return wire.StatusOK
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

func (c *conn) handleTreeDisconnect(r *request) wire.Status {
	s := r.sess
	s.mu.Lock()
	_, ok := s.trees[r.tree.id]
	delete(s.trees, r.tree.id)
	s.mu.Unlock()
	if !ok {
		return wire.StatusNetworkNameDeleted
	}
	c.srv.disconnectTree(r.ctx, r.tree)
	r.out = wire.AppendSimpleBody(r.out)
	return wire.StatusOK
}

// disconnectTree closes every open of t and cancels its pending requests.
func (srv *Server) disconnectTree(ctx context.Context, t *tree) {
	srv.mu.Lock()
	var opens []*open
	for _, o := range srv.opens {
		if o.tree == t {
			opens = append(opens, o)
		}
	}
	srv.mu.Unlock()
	// In the order they were opened, as Windows releases them.
	slices.SortFunc(opens, func(a, b *open) int { return cmp.Compare(a.id.Volatile, b.id.Volatile) })
	for _, o := range opens {
		srv.closeOpen(ctx, o)
	}
}
