package ul

import (
	"net"
	"syscall"
)

// peekSocket checks a TCP socket for pending bytes or end of stream with
// recv(MSG_PEEK|MSG_DONTWAIT). ok is false when it cannot tell.
func peekSocket(c net.Conn) (readable, ok bool) {
	tc, isTCP := c.(*net.TCPConn)
	if !isTCP {
		return false, false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return false, false
	}
	var buf [1]byte
	cerr := rc.Control(func(fd uintptr) {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK || rerr == syscall.EINTR:
			readable, ok = false, true
		case rerr != nil:
			readable, ok = true, true // an error the next read reports
		default:
			readable, ok = true, true // data, or n == 0: end of stream
			_ = n
		}
	})
	if cerr != nil {
		return false, false
	}
	return readable, ok
}
