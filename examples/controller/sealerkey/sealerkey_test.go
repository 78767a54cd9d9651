package sealerkey_test

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/brokerkit/brokerkit/examples/controller/sealerkey"
	"github.com/brokerkit/brokerkit/provisioner"
)

func TestLoadOrCreate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sealer.key")
	first, err := sealerkey.LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != sealerkey.Size {
		t.Fatalf("key of %d bytes, want %d", len(first), sealerkey.Size)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	again, err := sealerkey.LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, again) {
		t.Error("a second LoadOrCreate returned another key: the file was replaced")
	}
	// What one sealer sealed, a sealer from the reloaded key opens.
	s1, err := provisioner.NewAESSealer(first)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := provisioner.NewAESSealer(again)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s1.Seal([]byte("s3cr3t"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s2.Open(sealed); err != nil || string(got) != "s3cr3t" {
		t.Errorf("Open after reload: %q, %v", got, err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".sealer-key-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestLoadFormats(t *testing.T) {
	t.Parallel()
	raw := bytes.Repeat([]byte{0xA5}, sealerkey.Size)
	tests := []struct {
		name, reason string
		content      []byte
		wantErr      bool
	}{
		{"raw", "32 bytes as they are (a Secret made --from-file of random bytes)", raw, false},
		{"base64", "what LoadOrCreate writes", []byte(base64.StdEncoding.EncodeToString(raw) + "\n"), false},
		{"base64-bare", "a Secret made --from-literal has no newline", []byte(base64.StdEncoding.EncodeToString(raw)), false},
		{"short", "16 bytes would be AES-128", []byte(base64.StdEncoding.EncodeToString(raw[:16])), true},
		{"empty", "a file truncated by a crash must not become a new key silently", nil, true},
		{"garbage", "neither form", []byte(strings.Repeat("x", 40)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "sealer.key")
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			key, err := sealerkey.LoadOrCreate(path)
			if tt.wantErr {
				if err == nil {
					t.Errorf("no error (%s)", tt.reason)
				} else if strings.Contains(err.Error(), string(tt.content)) && len(tt.content) > 0 {
					t.Errorf("error %q holds the file's content", err)
				}
				if got, _ := os.ReadFile(path); !bytes.Equal(got, tt.content) {
					t.Error("the file was changed")
				}
				return
			}
			if err != nil || !bytes.Equal(key, raw) {
				t.Errorf("key %x, %v; want %x (%s)", key, err, raw, tt.reason)
			}
		})
	}
}

// TestConcurrentCreate: processes starting together agree on one key.
func TestConcurrentCreate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sealer.key")
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := sealerkey.LoadOrCreate(path)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for i := range keys {
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("caller %d got another key than caller 0", i)
		}
	}
}
