package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"

	"gctdb/smbd/internal/iobuf"
	"gctdb/smbd/internal/wire"
)

const (
	// streamWriteMin is the smallest WRITE frame whose data is written
	// while it arrives; smaller ones are read whole first.
	streamWriteMin = 1 << 20
	// streamChunk is how much of a streamed WRITE's data is read from the
	// socket before it goes to the file; streamBuffers chunks are in
	// flight between the reading and the writing goroutine.
	streamChunk   = 1 << 20
	streamBuffers = 3
)

// errStreamBroken means the connection failed in the middle of a
// streamed WRITE's data.
var errStreamBroken = errors.New("server: connection broken inside a WRITE's data")

// streamedData is the data of a WRITE that is still on the socket. The
// request is served by the read loop, which reads no further frame until
// the data is consumed or discarded.
type streamedData struct {
	r    *bufio.Reader
	left int
	err  error // a read failure: the connection is unusable
}

// peekStreamableWrite reports whether the next frame is a large WRITE
// that can be written to its file while its data arrives (see
// wire.StreamableWrite), and its data length.
func peekStreamableWrite(br *bufio.Reader, limit int) (int, bool) {
	pfx, err := br.Peek(4)
	if err != nil {
		return 0, false
	}
	frame := int(uint32(pfx[1])<<16 | uint32(pfx[2])<<8 | uint32(pfx[3]))
	if pfx[0] != 0 || frame < streamWriteMin || frame > limit {
		return 0, false
	}
	head, err := br.Peek(4 + wire.WriteHeadSize) // within the frame: no over-read
	if err != nil {
		return 0, false
	}
	return wire.StreamableWrite(head)
}

// serveStreamedWrite serves the WRITE at the head of br whose data of n
// bytes follows, then discards whatever of the data the handler did not
// consume (a refused WRITE).
func (c *conn) serveStreamedWrite(ctx context.Context, br *bufio.Reader, n int) error {
	if _, err := br.Discard(4); err != nil {
		return err
	}
	head := make([]byte, wire.WriteHeadSize)
	if _, err := io.ReadFull(br, head); err != nil {
		return err
	}
	data := &streamedData{r: br, left: n}
	if err := c.serveElements(ctx, &chain{stream: data}, [][]byte{head}); err != nil {
		return err
	}
	if data.err != nil {
		return data.err
	}
	_, err := br.Discard(data.left)
	return err
}

// readAll reads the whole data into memory (pipes and named streams).
func (d *streamedData) readAll() ([]byte, error) {
	b := make([]byte, d.left)
	if _, err := io.ReadFull(d.r, b); err != nil {
		d.err = errors.Join(errStreamBroken, err)
		return nil, d.err
	}
	d.left = 0
	return b, nil
}

// writeTo copies the data to f at off in chunks as it arrives, so the
// file is written while the client is still sending: this goroutine
// reads chunk k+1 from the socket while a writer goroutine writes chunk k
// to the file. A write error stops the writing (the rest of the data is
// still read, and dropped) and is returned with the count written; a
// read error is errStreamBroken.
//
// splice(2) from the socket through a pipe into the file was tried: on
// tmpfs it costs as much CPU as read plus pwrite and is no faster.
func (d *streamedData) writeTo(f *os.File, off int64) (int, error) {
	type chunk struct {
		buf []byte
		at  int64
	}
	n := min(d.left, streamChunk)
	free := make(chan []byte, streamBuffers)
	for range streamBuffers {
		free <- iobuf.Get(n)
	}
	full := make(chan chunk, streamBuffers)
	written := 0
	var werr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range full {
			if werr == nil {
				if _, err := f.WriteAt(c.buf, c.at); err != nil {
					werr = err
				} else {
					written += len(c.buf)
				}
			}
			free <- c.buf[:cap(c.buf)]
		}
	}()
	at := off
	for d.left > 0 {
		buf := <-free
		k := min(d.left, len(buf))
		if _, err := io.ReadFull(d.r, buf[:k]); err != nil {
			d.err = errors.Join(errStreamBroken, err)
			free <- buf
			break
		}
		d.left -= k
		full <- chunk{buf: buf[:k], at: at}
		at += int64(k)
	}
	close(full)
	<-done
	for range streamBuffers {
		iobuf.Put(<-free)
	}
	if d.err != nil {
		return written, d.err
	}
	return written, werr
}
