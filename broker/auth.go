package broker

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// An Authenticator decides whether a request may reach the broker. It runs
// before anything else, on every request; a non-nil error is answered with
// 401 Unauthorized (the error is logged, never sent).
type Authenticator interface {
	Authenticate(r *http.Request) error
}

// AuthenticatorFunc adapts a function to [Authenticator].
type AuthenticatorFunc func(r *http.Request) error

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) error { return f(r) }

// Credential is one username and password for HTTP Basic authentication.
// Its String method hides the password.
type Credential struct {
	Username string
	Password string
}

// String returns the username only.
func (c Credential) String() string { return c.Username + ":[redacted]" }

// GoString is String, so %#v cannot print the password either.
func (c Credential) GoString() string { return c.String() }

// Format prints String for every verb, so no verb can print the password.
func (c Credential) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// ErrUnauthorized is what [BasicAuth] returns for a missing or wrong
// credential.
var ErrUnauthorized = errors.New("broker: missing or invalid credentials")

// BasicAuth returns an Authenticator that accepts any of creds over HTTP
// Basic authentication. Every credential is compared on every request, in
// constant time and over fixed-length digests, so neither the position of
// the matching credential nor the length of a guess shows in the timing.
func BasicAuth(creds ...Credential) Authenticator {
	a := &basicAuth{users: make([]digests, len(creds))}
	for i, c := range creds {
		header := "Basic " + base64.StdEncoding.EncodeToString([]byte(c.Username+":"+c.Password))
		a.users[i] = digests{sha256.Sum256([]byte(header)), sha256.Sum256([]byte(c.Username)), sha256.Sum256([]byte(c.Password))}
	}
	return a
}

type digests struct{ header, user, pass [sha256.Size]byte }

type basicAuth struct{ users []digests }

func (a *basicAuth) Authenticate(r *http.Request) error {
	// Fast path: the header as platforms write it, one digest compared
	// with each credential's. Anything else (another scheme spelling,
	// other padding) takes the slow path below.
	if h := r.Header["Authorization"]; len(h) == 1 {
		d := sha256.Sum256([]byte(h[0]))
		match := 0
		for i := range a.users {
			match |= subtle.ConstantTimeCompare(d[:], a.users[i].header[:])
		}
		if match == 1 {
			return nil
		}
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return ErrUnauthorized
	}
	u, p := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	match := 0
	for i := range a.users {
		match |= subtle.ConstantTimeCompare(u[:], a.users[i].user[:]) & subtle.ConstantTimeCompare(p[:], a.users[i].pass[:])
	}
	if match != 1 {
		return ErrUnauthorized
	}
	return nil
}
