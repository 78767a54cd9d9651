// Package osbspec validates HTTP exchanges against the Open Service Broker
// API v2.17 OpenAPI document (openapi.yaml, copied unchanged from the
// upstream repository at tag v2.17; Apache-2.0, see LICENSE and NOTICE
// beside it). Tests use it to check every body the broker sends.
//
// The document is incomplete (see shared/osb-spec/README.md): it lacks the
// 412 responses, some catalog fields and all additionalProperties limits,
// so a body it accepts can still break spec.md. Status codes it does not
// list are not reported; spec.md's own rules are tested separately.
package osbspec

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

//go:embed openapi.yaml
var document []byte

// Validator checks responses against the OSB OpenAPI document. It is safe
// for concurrent use.
type Validator struct {
	router routers.Router
}

var (
	once      sync.Once
	shared    *Validator
	sharedErr error
)

// Load returns the Validator for the embedded document, parsing it once.
func Load() (*Validator, error) {
	once.Do(func() {
		doc, err := openapi3.NewLoader().LoadFromData(document)
		if err != nil {
			sharedErr = fmt.Errorf("osbspec: loading openapi.yaml: %w", err)
			return
		}
		// Match any host: the document's servers are examples.
		doc.Servers = nil
		if err := doc.Validate(context.Background()); err != nil {
			sharedErr = fmt.Errorf("osbspec: openapi.yaml is invalid: %w", err)
			return
		}
		r, err := legacy.NewRouter(doc)
		if err != nil {
			sharedErr = fmt.Errorf("osbspec: building the router: %w", err)
			return
		}
		shared = &Validator{router: r}
	})
	return shared, sharedErr
}

// ErrUnknownRoute is wrapped by ValidateResponse's error when the document
// has no operation for the request's method and path.
var ErrUnknownRoute = errors.New("no such operation in openapi.yaml")

// ValidateResponse checks one response to req. It reports routes the
// document does not know as errors wrapping [ErrUnknownRoute], so a test
// cannot pass by accident on a mistyped path; callers skip those they send
// on purpose.
func (v *Validator) ValidateResponse(req *http.Request, status int, header http.Header, body []byte) error {
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("osbspec: %s %s: %w: %w", req.Method, req.URL.Path, ErrUnknownRoute, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status:  status,
		Header:  header,
		Options: &openapi3filter.Options{IncludeResponseStatus: false, MultiError: true},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("osbspec: %s %s → %d: %w", req.Method, req.URL.Path, status, err)
	}
	return nil
}

// Recorder is the part of httptest.ResponseRecorder that ValidateRecorded
// reads.
type Recorder interface {
	Result() *http.Response
}

// ValidateRecorded is ValidateResponse for a recorded response.
func (v *Validator) ValidateRecorded(req *http.Request, rec Recorder) error {
	resp := rec.Result()
	body, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return v.ValidateResponse(req, resp.StatusCode, resp.Header, body)
}

// Check returns a function for brokertest.Config.Check that validates
// every response against the document. Statuses the document does not
// list, such as 412, are not validated; neither are IDs holding an
// encoded slash, for which the document's router (matching decoded
// paths) finds no operation.
func Check(tb testing.TB) func(*testing.T, *http.Request, *http.Response, []byte) {
	tb.Helper()
	v, err := Load()
	if err != nil {
		tb.Fatal(err)
	}
	return func(t *testing.T, r *http.Request, resp *http.Response, body []byte) {
		t.Helper()
		err := v.ValidateResponse(r, resp.StatusCode, resp.Header, body)
		if errors.Is(err, ErrUnknownRoute) && strings.Contains(r.URL.EscapedPath(), "%2F") {
			return
		}
		if err != nil {
			t.Errorf("openapi.yaml: %v", err)
		}
	}
}
