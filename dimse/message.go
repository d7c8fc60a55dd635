package dimse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/sonogate/sonogate/dimse/pdu"
	"github.com/sonogate/sonogate/dimse/ul"
)

// MaxCommandLength caps the reassembled size of one command set. Command
// sets are a few hundred bytes; a peer that keeps sending command
// fragments without the last bit is aborted past this cap (B06a).
const MaxCommandLength = 64 << 10

// DefaultMaxPDULength is the Maximum Length Received we announce when the
// configuration leaves it zero, and the fragment size we use when the peer
// announces 0 (no limit, PS3.8 D.1).
const DefaultMaxPDULength = 1 << 20

// errReleaseRequested is returned by the message reader when the peer asks
// to release the association between messages.
var errReleaseRequested = errors.New("dimse: peer requested release")

// errProtocol marks DIMSE-level protocol violations; the association is
// aborted with source 2 (service provider).
var errProtocol = errors.New("dimse: protocol violation")

// presentationContext is one accepted presentation context.
type presentationContext struct {
	id             byte
	abstractSyntax string
	transferSyntax string
}

// conn is the DIMSE message layer over one upper-layer machine: it
// reassembles incoming PDVs into command sets and data streams (PS3.8
// Annex E) and fragments outgoing messages to the peer's maximum length.
type conn struct {
	m        *ul.Machine
	log      *slog.Logger
	contexts map[byte]presentationContext
	peerMax  uint32 // Maximum Length Received announced by the peer (0 = none)

	pending []pdu.PDV // PDVs of the current P-DATA-TF not yet consumed
	data    *dataReader
	onBytes func(n int) // metrics hook, may be nil

	wbufs [2][]byte // writeData's read-ahead buffers, kept for the association
}

// fragmentLength is the largest PDV value we put in one P-DATA-TF: the
// peer's maximum minus the 6-byte PDV item header, even, at least 2 (B01, B02).
func (c *conn) fragmentLength() int {
	max := uint64(c.peerMax)
	if max == 0 || max > DefaultMaxPDULength {
		max = DefaultMaxPDULength
	}
	n := int64(max) - pdu.PDVItemHeaderLength
	n &^= 1
	if n < 2 {
		n = 2
	}
	return int(n)
}

// nextPDV returns the next PDV from the peer, reading P-DATA-TF PDUs as
// needed. It returns errReleaseRequested on an A-RELEASE indication.
func (c *conn) nextPDV(ctx context.Context) (pdu.PDV, error) {
	for len(c.pending) == 0 {
		ind, err := c.m.Next(ctx)
		if err != nil {
			return pdu.PDV{}, err
		}
		switch ind := ind.(type) {
		case ul.PDataIndication:
			c.pending = ind.PDU.Items
			if c.onBytes != nil {
				n := 0
				for _, v := range ind.PDU.Items {
					n += len(v.Data)
				}
				c.onBytes(n)
			}
		case ul.ReleaseIndication:
			return pdu.PDV{}, errReleaseRequested
		case nil:
			// Event without indication (ignored PDU); keep reading.
		default:
			return pdu.PDV{}, fmt.Errorf("%w: unexpected %T", errProtocol, ind)
		}
	}
	v := c.pending[0]
	c.pending = c.pending[1:]
	if _, ok := c.contexts[v.ContextID]; !ok {
		return v, fmt.Errorf("%w: PDV on presentation context %d that was not accepted", errProtocol, v.ContextID)
	}
	return v, nil
}

// readCommand reassembles the next command set. Message control header
// bits 2-7 are ignored (B04); command and data PDVs may share a PDU (B03).
func (c *conn) readCommand(ctx context.Context) (byte, *Command, error) {
	if c.data != nil && !c.data.done {
		return 0, nil, fmt.Errorf("%w: previous data set not consumed", errProtocol)
	}
	var buf []byte
	var id byte
	for first := true; ; first = false {
		v, err := c.nextPDV(ctx)
		if err != nil {
			return 0, nil, err
		}
		if !v.IsCommand() {
			return 0, nil, fmt.Errorf("%w: data PDV where a command was expected", errProtocol)
		}
		if first {
			id = v.ContextID
		} else if v.ContextID != id {
			return 0, nil, fmt.Errorf("%w: command fragments on contexts %d and %d", errProtocol, id, v.ContextID)
		}
		if len(buf)+len(v.Data) > MaxCommandLength {
			return 0, nil, fmt.Errorf("%w: command set longer than %d bytes", errProtocol, MaxCommandLength)
		}
		buf = append(buf, v.Data...)
		if v.IsLast() {
			break
		}
	}
	cmd, err := DecodeCommand(buf)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %v", errProtocol, err)
	}
	return id, cmd, nil
}

// newDataReader returns a reader over the data set that follows a command
// on context id, streamed PDV by PDV from the socket.
func (c *conn) newDataReader(ctx context.Context, id byte) *dataReader {
	c.data = &dataReader{c: c, ctx: ctx, id: id}
	return c.data
}

// dataReader streams one data set (PS3.8 Annex E.2): fragments are handed
// out as they arrive; nothing is buffered beyond the current PDU.
type dataReader struct {
	c    *conn
	ctx  context.Context
	id   byte
	cur  []byte
	last bool
	done bool // last fragment consumed
	err  error
	n    int64
}

func (r *dataReader) Read(p []byte) (int, error) {
	if err := r.fill(); err != nil {
		return 0, err
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	r.n += int64(n)
	return n, nil
}

// WriteTo hands each fragment to w as it arrives, without an intermediate
// copy. The slices alias the association's receive buffer, so w must not
// keep them after Write returns (the io.Writer contract).
func (r *dataReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if err := r.fill(); err == io.EOF {
			return total, nil
		} else if err != nil {
			return total, err
		}
		n, err := w.Write(r.cur)
		r.cur = r.cur[n:]
		r.n += int64(n)
		total += int64(n)
		if err != nil {
			return total, err
		}
		if len(r.cur) > 0 {
			return total, io.ErrShortWrite
		}
	}
}

// fill makes r.cur non-empty, reading the next fragment if needed; io.EOF
// after the last fragment.
func (r *dataReader) fill() error {
	for len(r.cur) == 0 {
		if r.err != nil {
			return r.err
		}
		if r.last {
			r.done = true
			return io.EOF
		}
		v, err := r.c.nextPDV(r.ctx)
		if err != nil {
			if errors.Is(err, errReleaseRequested) {
				err = fmt.Errorf("%w: release requested inside a data set", errProtocol)
			}
			r.err = err
			return err
		}
		if v.IsCommand() || v.ContextID != r.id {
			r.err = fmt.Errorf("%w: PDV (context %d, header 0x%02X) inside the data set on context %d", errProtocol, v.ContextID, v.Header, r.id)
			return r.err
		}
		r.cur, r.last = v.Data, v.IsLast()
	}
	return nil
}

// drain consumes the rest of the data set.
func (r *dataReader) drain() error {
	_, err := io.Copy(io.Discard, r)
	return err
}

// writeCommand sends a command set on context id, fragmented to the peer's
// maximum length.
func (c *conn) writeCommand(ctx context.Context, id byte, cmd *Command) error {
	b := cmd.Encode()
	max := c.fragmentLength()
	for len(b) > 0 {
		n := min(len(b), max)
		h := pdu.HeaderCommand
		if n == len(b) {
			h |= pdu.HeaderLast
		}
		if err := c.m.SendPData(ctx, &pdu.PDataTF{Items: []pdu.PDV{{ContextID: id, Header: h, Data: b[:n]}}}); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// writeData streams a data set from r on context id, starting in a new
// PDU (B03) and fragmenting to the peer's maximum length (B02). Every
// fragment has even length; an odd-length data set is padded with one NUL
// byte (PS3.8 Annex E.1 requires even fragments).
func (c *conn) writeData(ctx context.Context, id byte, r io.Reader) (int64, error) {
	max := c.fragmentLength()
	for i := range c.wbufs {
		if cap(c.wbufs[i]) < max+1 { // +1: room for the NUL pad of an odd last fragment
			c.wbufs[i] = make([]byte, max, max+1)
		}
	}
	bufs := [2][]byte{c.wbufs[0][:max], c.wbufs[1][:max]}
	cur := 0
	n, err := io.ReadFull(r, bufs[cur])
	var total int64
	for {
		eof := false
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			eof = true
		default:
			return total, err
		}
		var next int
		var nerr error
		if !eof {
			// Read ahead so we know whether this fragment is the last one.
			next, nerr = io.ReadFull(r, bufs[1-cur])
			if nerr == io.EOF {
				eof = true
			}
		}
		frag := bufs[cur][:n]
		if eof && n%2 == 1 {
			frag = append(frag, 0)
			c.log.Warn("odd-length data set padded with NUL", "length", total+int64(n))
		}
		h := byte(0)
		if eof {
			h = pdu.HeaderLast
		}
		if len(frag) > 0 || eof {
			if err := c.m.SendPData(ctx, &pdu.PDataTF{Items: []pdu.PDV{{ContextID: id, Header: h, Data: frag}}}); err != nil {
				return total, err
			}
		}
		total += int64(n)
		if eof {
			return total, nil
		}
		cur, n, err = 1-cur, next, nerr
	}
}
