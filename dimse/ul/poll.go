package ul

import (
	"errors"
	"os"
	"time"
)

// Readable reports, without consuming anything and without blocking for
// more than about wait, whether the peer has sent bytes (or closed the
// connection) that the next call to Next would read. The DIMSE layer uses
// it between the responses of a long operation (C-FIND, C-MOVE, C-GET) to
// notice a C-CANCEL-RQ while keeping the machine owned by one goroutine.
// A zero wait polls.
func (m *Machine) Readable(wait time.Duration) bool {
	if m.conn == nil || m.state == Sta1 {
		return false
	}
	if m.br.Buffered() > 0 {
		return true
	}
	if wait <= 0 {
		if r, ok := peekSocket(m.conn); ok {
			return r
		}
		wait = time.Millisecond
	}
	m.intrMu.Lock()
	if m.intr != nil {
		m.intrMu.Unlock()
		return true // a context interrupt is pending: let Next report it
	}
	m.conn.SetReadDeadline(time.Now().Add(wait))
	m.intrMu.Unlock()
	_, err := m.br.Peek(1)
	m.intrMu.Lock()
	if m.intr == nil {
		m.conn.SetReadDeadline(time.Time{})
	}
	m.intrMu.Unlock()
	return err == nil || !errors.Is(err, os.ErrDeadlineExceeded)
}
