//go:build linux

package main

import "syscall"

// setDeathSignal makes the kernel kill a child when the demo dies without
// running its cleanup (kill -9). Linux sends the signal when the OS thread
// that started the child exits; the Go runtime only ends threads that a
// goroutine locked and did not unlock, which the demo never does.
func setDeathSignal(a *syscall.SysProcAttr) {
	a.Pdeathsig = syscall.SIGKILL
}
