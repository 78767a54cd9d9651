package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "binding.key")

	// Concurrent first starts: one creates, all get the same key.
	const n = 16
	keys := make([][]byte, n)
	created := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, c, err := loadOrCreateKey(path)
			if err != nil {
				t.Error(err)
			}
			keys[i], created[i] = k, c
		})
	}
	wg.Wait()
	nCreated := 0
	for i := range n {
		if created[i] {
			nCreated++
		}
		if !bytes.Equal(keys[i], keys[0]) || len(keys[i]) != keyLen {
			t.Fatalf("start %d got another key (or a short one)", i)
		}
	}
	if nCreated != 1 {
		t.Errorf("%d starts created the key, want 1", nCreated)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".binding.key.*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	again, c, err := loadOrCreateKey(path)
	if err != nil || c || !bytes.Equal(again, keys[0]) {
		t.Errorf("reload: created %v, %v; want the same key", c, err)
	}

	// A file that holds no key (an empty one, say) is an error naming it,
	// never replaced.
	bad := filepath.Join(dir, "empty.key")
	if err := os.WriteFile(bad, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadOrCreateKey(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("empty key file: %v, want an error naming it", err)
	}
}
