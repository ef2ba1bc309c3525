package rpc

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/transportd/proto"
)

func reply(reqid uint32, status proto.Status) *proto.Message {
	req := &proto.Message{Header: proto.Header{Flags: proto.FlagRequest, ReqID: reqid, Opcode: proto.OpPing}}
	return ReplyFrame(req, status, "msg", &proto.U32{V: 7})
}

func TestCallerMatchesReplies(t *testing.T) {
	c := NewCaller()
	a, err := c.Start()
	require.NoError(t, err)
	b, err := c.Start()
	require.NoError(t, err)
	assert.NotEqual(t, a.ReqID, b.ReqID)
	assert.Equal(t, 2, c.Pending())

	assert.True(t, c.Deliver(reply(b.ReqID, proto.StatusBusy)))
	assert.False(t, c.Deliver(reply(999, proto.StatusOK)), "unknown reqid")
	r, err := b.Wait(context.Background(), proto.OpPing)
	require.NoError(t, err)
	assert.Equal(t, proto.StatusBusy, r.Status)
	assert.Equal(t, "msg", r.Msg)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err = a.Wait(ctx, proto.OpPing)
	assert.Equal(t, proto.StatusTimeout, proto.StatusOf(err))
	assert.Equal(t, 0, c.Pending(), "a timed-out call is forgotten")
	assert.False(t, c.Deliver(reply(a.ReqID, proto.StatusOK)), "late replies are dropped")
}

func TestCallerClose(t *testing.T) {
	c := NewCaller()
	a, err := c.Start()
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := a.Wait(context.Background(), proto.OpPing)
		done <- err
	}()
	c.Close(ErrClosed)
	assert.ErrorIs(t, <-done, ErrClosed)
	_, err = c.Start()
	assert.ErrorIs(t, err, ErrClosed)
}

func TestCallerReqIDSkipsZeroAndBusy(t *testing.T) {
	c := NewCaller()
	c.next = ^uint32(0) - 1
	a, _ := c.Start()
	b, _ := c.Start()
	assert.Equal(t, ^uint32(0), a.ReqID)
	assert.Equal(t, uint32(1), b.ReqID, "0 is never used")
}

func TestMailboxFIFO(t *testing.T) {
	mb := NewMailbox()
	for i := 0; i < 1000; i++ {
		require.True(t, mb.Put(&proto.Message{Header: proto.Header{ReqID: uint32(i)}}))
	}
	ctx := context.Background()
	for i := 0; i < 1000; i++ {
		m, ok := mb.Next(ctx)
		require.True(t, ok)
		require.Equal(t, uint32(i), m.ReqID)
	}
	go func() {
		time.Sleep(5 * time.Millisecond)
		mb.Put(&proto.Message{Header: proto.Header{ReqID: 5000}})
	}()
	m, ok := mb.Next(ctx)
	require.True(t, ok)
	assert.Equal(t, uint32(5000), m.ReqID)

	mb.Put(&proto.Message{})
	mb.Close()
	assert.False(t, mb.Put(&proto.Message{}))
	_, ok = mb.Next(ctx)
	assert.True(t, ok, "queued messages survive close")
	_, ok = mb.Next(ctx)
	assert.False(t, ok)
}
