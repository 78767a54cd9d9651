//go:build unix

package mototest

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts moto_server in its own process group, so that stopping
// it also stops what a wrapper (a pyenv shim, a virtualenv script) started.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setDeathSignal(cmd.SysProcAttr)
}

// terminate asks the process group of cmd to stop.
func terminate(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
}

// kill stops the process group of cmd at once.
func kill(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
