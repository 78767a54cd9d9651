//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStopKillsTheGroup checks that stopping a child also stops what it
// started (as a pyenv shim starts python), and that a child ignoring
// SIGTERM is killed after the grace period.
func TestStopKillsTheGroup(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	p, err := startProc("sh", "/bin/sh", []string{"-c", `trap "" TERM; sleep 60 & echo $! > ` + pidFile + `; wait`}, os.Environ(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var grandchild int
	for deadline := time.Now().Add(5 * time.Second); grandchild == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile(pidFile)
		grandchild, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if grandchild == 0 {
		t.Fatal("the child did not start its own child")
	}
	start := time.Now()
	p.stop(300 * time.Millisecond)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop took %v", d)
	}
	if !p.hasExited() {
		t.Error("the child still runs")
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if !alive(grandchild) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the grandchild %d still runs", grandchild)
		}
	}
	p.stop(time.Second) // a second stop is harmless
}

// alive reports whether pid runs: it exists and, where /proc tells, is not
// a zombie waiting for a parent that may never reap it (a container's
// init may not).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state follows the command name, which is in parentheses.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && len(s) > i+2 {
		return s[i+2] != 'Z'
	}
	return true
}
