//go:build !unix

package procgroup

import "os/exec"

// Set does nothing where there are no process groups.
func Set(*exec.Cmd) {}

// Terminate kills the process.
func Terminate(cmd *exec.Cmd) { _ = cmd.Process.Kill() }

// Kill kills the process.
func Kill(cmd *exec.Cmd) { _ = cmd.Process.Kill() }
