package binding

import (
	"errors"
	"strconv"
)

// Sentinels for the conditions a caller branches on; find them with
// errors.Is. Each comes wrapped in an [*Error] naming the key.
var (
	// ErrInvalidKey: a key breaks the Kubernetes Secret key rules.
	ErrInvalidKey = errors.New("invalid credential key")
	// ErrMissingKey: a transform or template refers to a key that is not
	// there.
	ErrMissingKey = errors.New("no such key")
	// ErrDuplicateKey: two keys map to the same name, or a rename would
	// replace an existing key.
	ErrDuplicateKey = errors.New("duplicate key")
	// ErrNoClient: a value refers to a secret store the Resolver has no
	// client for.
	ErrNoClient = errors.New("no client configured for this secret store")
	// ErrNoValue: the secret store answered without a string value (a
	// binary Secrets Manager secret, an empty SSM answer).
	ErrNoValue = errors.New("secret store returned no string value")
	// ErrBadTransform: a transform is malformed (AddKey with both Value
	// and Template, a template that does not parse or fails).
	ErrBadTransform = errors.New("bad transform")
)

var errNotCredentials = errors.New("not a JSON object of strings")

// Error is a failure concerning one key. Its text names the key and, for
// a secret-store reference, the reference (a parameter name or ARN, never
// the secret); it never contains a credential value.
type Error struct {
	// Op is the step: "resolve", "map", "rename", "add", "remove",
	// "validate".
	Op string
	// Key is the credential key (for "resolve", the output key).
	Key string
	// Ref is the secret-store reference for "resolve", else "".
	Ref string
	// Err is a sentinel above, or the SDK's error for "resolve" (find
	// smithy.APIError in it with errors.As).
	Err error
}

func (e *Error) Error() string {
	s := "binding: " + e.Op + " " + strconv.Quote(e.Key)
	if e.Ref != "" {
		s += " (" + e.Ref + ")"
	}
	return s + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }
