//go:build linux

package procgroup

import "syscall"

// setDeathSignal makes the kernel kill the child when the parent dies
// without running its cleanup (kill -9, a test timeout). Linux sends the
// signal when the OS thread that started the child exits; the Go runtime
// only ends threads that a goroutine locked and did not unlock, which the
// callers never do.
func setDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
