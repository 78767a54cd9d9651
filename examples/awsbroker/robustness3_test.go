package main

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/brokerkit/brokerkit/internal/mototest"
)

// -state naming an existing directory passes parseConfig, creates
// binding.key in its parent, then fails opening the "file" with exit 1.
func TestRobustStateIsDirectory(t *testing.T) {
	motoEnv(t)
	parent := t.TempDir()
	stateDir := filepath.Join(parent, "state")
	if err := os.Mkdir(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	code := program{Args: []string{"-listen", "127.0.0.1:0", "-region", mototest.Region, "-state", stateDir},
		Getenv: envOf(map[string]string{"BROKER_USERS": "a:b"}), Stdout: &stderr, Stderr: &stderr,
		Ready: func(net.Addr) { t.Error("the broker listened") }}.run(t.Context())
	_, kerr := os.Stat(filepath.Join(parent, "binding.key"))
	t.Logf("exit %d; stderr %s; binding.key created: %v", code, stderr.String(), kerr == nil)
	if code != exitUsage {
		t.Errorf("exit %d, want %d for a bad -state value", code, exitUsage)
	}
	if kerr == nil {
		t.Errorf("a new binding key was left behind in %s by a run that failed on a bad -state", parent)
	}
}
