package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// keyLen is the length of an AES-256 key.
const keyLen = 32

// loadOrCreateKey reads the hex-encoded 32-byte key in path, or, if the
// file does not exist, creates it (mode 0600) with a random key. created
// reports the latter. The key is written to a temporary file in the same
// directory, synced, and hard-linked to path, which fails if path exists:
// two processes starting at once cannot each keep their own key, and a
// crash leaves either no key file or a complete one, never an empty one.
func loadOrCreateKey(path string) (key []byte, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, keyLen)
		if _, err := rand.Read(key); err != nil {
			return nil, false, err
		}
		f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
		if err != nil {
			return nil, false, err
		}
		defer os.Remove(f.Name())
		_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
		err = errors.Join(werr, f.Chmod(0o600), f.Sync(), f.Close())
		if err != nil {
			return nil, false, err
		}
		if err := os.Link(f.Name(), path); errors.Is(err, fs.ErrExist) {
			return loadOrCreateKey(path) // another process was first
		} else if err != nil {
			return nil, false, err
		}
		if d, err := os.Open(filepath.Dir(path)); err == nil {
			_ = d.Sync() // make the new name durable
			d.Close()
		}
		return key, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	key, err = hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != keyLen {
		return nil, false, fmt.Errorf("%s does not hold a key: want %d hex digits", path, 2*keyLen)
	}
	return key, false, nil
}
