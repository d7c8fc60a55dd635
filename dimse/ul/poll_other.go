//go:build !linux

package ul

import "net"

func peekSocket(net.Conn) (readable, ok bool) { return false, false }
