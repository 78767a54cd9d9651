package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// keyLen is the length of an AES-256 key.
const keyLen = 32

// loadOrCreateKey reads the hex-encoded 32-byte key in path, or, if the
// file does not exist, creates it (mode 0600, exclusively, so two
// processes starting at once cannot each write their own) with a random
// key. created reports the latter.
func loadOrCreateKey(path string) (key []byte, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, keyLen)
		if _, err := rand.Read(key); err != nil {
			return nil, false, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return loadOrCreateKey(path) // another process was first
		}
		if err != nil {
			return nil, false, err
		}
		_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
		serr := f.Sync()
		if err := errors.Join(werr, serr, f.Close()); err != nil {
			os.Remove(path)
			return nil, false, err
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
