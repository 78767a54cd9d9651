package binding

import (
	"fmt"
	"strconv"
)

// MaxKeyLen is the longest Kubernetes Secret key.
const MaxKeyLen = 253

// ValidateKey checks key against the rules Kubernetes applies to Secret
// and ConfigMap keys: non-empty, at most 253 bytes of [-._a-zA-Z0-9], and
// neither ".", ".." nor starting with "..". The error is an [*Error] with
// Op "validate" wrapping [ErrInvalidKey].
func ValidateKey(key string) error {
	reason := keyProblem(key)
	if reason == "" {
		return nil
	}
	return &Error{Op: "validate", Key: key, Err: fmt.Errorf("%w: %s", ErrInvalidKey, reason)}
}

func keyProblem(key string) string {
	switch {
	case key == "":
		return "empty"
	case len(key) > MaxKeyLen:
		return "longer than " + strconv.Itoa(MaxKeyLen) + " bytes"
	case key == ".", key == "..":
		return "must not be '.' or '..'"
	case len(key) >= 2 && key[:2] == "..":
		return "must not start with '..'"
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c == '-' || c == '.' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return "only letters, digits, '-', '_' and '.' are allowed"
		}
	}
	return ""
}
