package provisioner

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// A Sealer encrypts secret parameter values before they are stored, so
// that an operation interrupted by a restart can be started again with
// them. Without one, secret values live only in memory: an operation that
// needs them and was not started before a restart fails with a
// description saying so.
type Sealer interface {
	Seal(plaintext []byte) ([]byte, error)
	Open(sealed []byte) ([]byte, error)
}

// NewAESSealer returns a Sealer using AES-256-GCM with key, which must be
// 32 bytes. Keep the key outside the store (a Kubernetes Secret, a KMS-
// decrypted file): whoever has both can read the secrets.
func NewAESSealer(key []byte) (Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("provisioner: an AES-256 key is 32 bytes, not %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return aesSealer{gcm}, nil
}

type aesSealer struct{ aead cipher.AEAD }

func (s aesSealer) Seal(plaintext []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plaintext, nil), nil
}

func (s aesSealer) Open(sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("provisioner: sealed value too short")
	}
	return s.aead.Open(nil, sealed[:n], sealed[n:], nil)
}

// protect splits params into what may be stored in plain text and, for
// each name in secret, a digest (and a sealed copy if s is not nil).
func protect(params map[string]any, secret []string, s Sealer) (plain map[string]any, secrets map[string]SecretValue, err error) {
	plain = cloneMap(params)
	for _, name := range secret {
		v, ok := plain[name]
		if !ok {
			continue
		}
		delete(plain, name)
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, nil, fmt.Errorf("provisioner: encoding secret parameter %q: %w", name, err)
		}
		sv := SecretValue{Salt: make([]byte, 16)}
		if _, err := rand.Read(sv.Salt); err != nil {
			return nil, nil, err
		}
		sv.Digest = digest(sv.Salt, raw)
		if s != nil {
			if sv.Sealed, err = s.Seal(raw); err != nil {
				return nil, nil, fmt.Errorf("provisioner: sealing secret parameter %q: %w", name, err)
			}
		}
		if secrets == nil {
			secrets = map[string]SecretValue{}
		}
		secrets[name] = sv
	}
	return plain, secrets, nil
}

func digest(salt, value []byte) string {
	m := hmac.New(sha256.New, salt)
	m.Write(value)
	return "hmac-sha256:" + base64.RawStdEncoding.EncodeToString(m.Sum(nil))
}

// matchesSecret reports whether v is the value sv was made from.
func matchesSecret(sv SecretValue, v any) bool {
	raw, err := json.Marshal(v)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(digest(sv.Salt, raw)), []byte(sv.Digest)) == 1
}

// unseal returns the secret values a Sealer kept, for restarting an
// operation after a crash.
func unseal(secrets map[string]SecretValue, s Sealer) (map[string]any, error) {
	if len(secrets) == 0 {
		return nil, nil
	}
	out := make(map[string]any, len(secrets))
	for name, sv := range secrets {
		if s == nil || sv.Sealed == nil {
			return nil, errSecretsLost
		}
		raw, err := s.Open(sv.Sealed)
		if err != nil {
			return nil, fmt.Errorf("provisioner: opening secret parameter %q: %w", name, err)
		}
		var v any
		if err := unmarshalNumber(raw, &v); err != nil {
			return nil, err
		}
		out[name] = v
	}
	return out, nil
}

var errSecretsLost = errors.New("the values of secret parameters were not kept across a restart (configure a Sealer to keep them); request the operation again")
