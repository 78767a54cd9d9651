//go:build linux

package mototest

import "syscall"

// setDeathSignal makes the kernel kill moto_server when the test binary
// dies without running Main's cleanup (a test timeout panics and exits).
// Linux sends the signal when the OS thread that started the process
// exits; the Go runtime only ends threads that a goroutine locked and did
// not unlock, which the code starting the server never does.
func setDeathSignal(a *syscall.SysProcAttr) {
	a.Pdeathsig = syscall.SIGKILL
}
