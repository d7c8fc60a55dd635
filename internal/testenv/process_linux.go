package testenv

import "syscall"

// sysProcAttr puts the server in its own process group (so Stop reaches all
// its children) and kills it if the test binary dies without cleaning up.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
