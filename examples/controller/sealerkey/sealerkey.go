package sealerkey

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Size is the length of a key: AES-256.
const Size = 32

// LoadOrCreate returns the key in the file at path, creating the file with
// a new random key when it does not exist. Errors name the file, never its
// content.
func LoadOrCreate(path string) ([]byte, error) {
	key, err := Load(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := create(path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	return Load(path)
}

// Load returns the key in the file at path: 32 raw bytes, or their
// standard base64 encoding with surrounding white space.
func Load(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sealerkey: %w", err)
	}
	if len(b) == Size {
		return b, nil
	}
	key, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil || len(key) != Size {
		return nil, fmt.Errorf("sealerkey: %s holds neither %d bytes nor their base64 encoding", path, Size)
	}
	return key, nil
}

// create writes a new key to a temporary file beside path and links it to
// path, which fails with fs.ErrExist rather than replace a key another
// process wrote meanwhile.
func create(path string) (err error) {
	key := make([]byte, Size)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("sealerkey: %w", err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".sealer-key-*") // mode 0600
	if err != nil {
		return fmt.Errorf("sealerkey: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sealerkey: writing a new key: %w", err)
	}
	if err := os.Link(f.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		return fmt.Errorf("sealerkey: %w", err)
	}
	// The link must survive a crash, or a restart would make a new key.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
