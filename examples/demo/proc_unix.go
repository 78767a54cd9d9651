//go:build unix

package main

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts a child in its own process group, so that stopping it
// also stops what a wrapper (a pyenv shim, a virtualenv script) started,
// and so that a Ctrl-C in the terminal reaches the demo only: the demo
// then stops its children in order, the broker first.
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
