package e2e

import "syscall"

// sysProcAttr puts sonogate in its own process group and kills it if the
// test binary dies without cleaning up (e.g. on a test timeout).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
