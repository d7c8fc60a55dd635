package ul

import (
	"io"
	"net"
	"syscall"
)

// quickAckReader re-arms TCP_QUICKACK after every read on a TCP
// connection. Linux leaves quick-ACK mode on its own, and a peer that runs
// with Nagle's algorithm on (DCMTK without TCP_NODELAY) would otherwise
// wait for our delayed ACK (up to 40 ms) before sending the next small
// segment, capping small C-STOREs at a few dozen per second.
func quickAckReader(c net.Conn) io.Reader {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	q := &quickAck{c: c, rc: rc}
	q.arm()
	return q
}

type quickAck struct {
	c  net.Conn
	rc syscall.RawConn
}

func (q *quickAck) arm() {
	q.rc.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}

func (q *quickAck) Read(p []byte) (int, error) {
	n, err := q.c.Read(p)
	if n > 0 {
		q.arm()
	}
	return n, err
}
