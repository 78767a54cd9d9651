package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strconv"
	"time"
)

// The OSB headers, in canonical form.
const (
	headerAPIVersion          = "X-Broker-Api-Version"
	headerOriginatingIdentity = "X-Broker-Api-Originating-Identity"
	headerRequestIdentity     = "X-Broker-Api-Request-Identity"
)

// maxOperationLen is the spec's limit on operation tokens.
const maxOperationLen = 10000

// MaxIDLength bounds instance and binding IDs (after percent-decoding):
// longer ones are answered 400 before any backend sees them, since stores
// and cloud resource names cannot hold them. Platforms send GUIDs.
const MaxIDLength = 1024

var (
	jsonContentType = []string{"application/json"}
	emptyObject     = []byte("{}\n")
)

// result is what an endpoint produces: a status and a body to encode, or
// an error to map. err and a 2xx are exclusive.
type result struct {
	status     int
	body       any    // encoded as JSON unless raw is set
	raw        []byte // a pre-encoded body
	retryAfter time.Duration
	err        error
	// allow is the Allow header of a 405.
	allow string
	// instanceID and bindingID are for the log line.
	instanceID, bindingID string
}

type endpointFunc func(r *http.Request, m *Meta) result

func (h *Handler) routes() {
	mux := http.NewServeMux()
	const (
		instance = "/v2/service_instances/{instance_id}"
		binding  = instance + "/service_bindings/{binding_id}"
	)
	handle := func(pattern string, ep endpoint, fn endpointFunc) {
		mux.Handle(pattern, &route{h: h, ep: ep, fn: fn})
	}
	handle("GET /v2/catalog", epCatalog, h.catalog)
	handle("PUT "+instance, epProvision, h.provision)
	handle("PATCH "+instance, epUpdate, h.update)
	handle("DELETE "+instance, epDeprovision, h.deprovision)
	handle("GET "+instance, epGetInstance, h.fetchInstance)
	handle("GET "+instance+"/last_operation", epInstanceLastOp, h.instanceLastOperation)
	handle("PUT "+binding, epBind, h.bind)
	handle("DELETE "+binding, epUnbind, h.unbind)
	handle("GET "+binding, epGetBinding, h.fetchBinding)
	handle("GET "+binding+"/last_operation", epBindingLastOp, h.bindingLastOperation)

	// The same paths with any other method, and every other path, answer
	// in JSON too rather than with ServeMux's plain-text pages.
	for p, allow := range map[string]string{
		"/v2/catalog": "GET, HEAD", instance: "GET, HEAD, PUT, PATCH, DELETE", instance + "/last_operation": "GET, HEAD",
		binding: "GET, HEAD, PUT, DELETE", binding + "/last_operation": "GET, HEAD",
	} {
		handle(p, epOther, methodNotAllowed(allow))
	}
	h.notFound = &route{h: h, ep: epOther, fn: notFound}
	mux.Handle("/", h.notFound)
	h.mux = mux
}

func methodNotAllowed(allow string) endpointFunc {
	return func(*http.Request, *Meta) result {
		return result{allow: allow, err: NewError(http.StatusMethodNotAllowed, "", "This method is not allowed on this resource.")}
	}
}

func notFound(*http.Request, *Meta) result {
	return result{err: NewError(http.StatusNotFound, "", "No such endpoint in the Open Service Broker API v2.17.")}
}

// ServeHTTP answers one OSB request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// ServeMux would redirect an unclean path with an HTML page; a broker
	// answers in JSON, after the checks every request passes.
	if p := r.URL.EscapedPath(); p == "" || p[0] != '/' || path.Clean(p) != p {
		h.notFound.ServeHTTP(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// route is one endpoint behind the checks every request passes, in the
// order the spec implies: authentication (401), then the API version
// (412/400), then the endpoint's own body and parameter checks.
type route struct {
	h  *Handler
	ep endpoint
	fn endpointFunc
}

func (rt *route) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, start := rt.h, time.Now()
	var m Meta
	if id := r.Header[headerRequestIdentity]; len(id) > 0 && id[0] != "" {
		m.RequestIdentity = id[0]
		w.Header()[headerRequestIdentity] = id[:1]
	}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			h.write(w, r, rt.ep, &m, start, result{err: fmt.Errorf("broker: panic in %s: %v", rt.ep, p)})
		}
	}()
	h.write(w, r, rt.ep, &m, start, rt.serve(r, &m))
}

func (rt *route) serve(r *http.Request, m *Meta) result {
	h := rt.h
	if a := h.opts.Authenticator; a != nil {
		if err := a.Authenticate(r); err != nil {
			return result{status: http.StatusUnauthorized, err: &Error{Status: http.StatusUnauthorized,
				Description: "Missing or invalid credentials.", Err: err}}
		}
	}
	v, res, ok := h.apiVersion(r)
	if !ok {
		return res
	}
	m.APIVersion = v
	for _, name := range [...]string{"instance_id", "binding_id"} {
		if len(r.PathValue(name)) > MaxIDLength {
			return result{err: badRequest(fmt.Sprintf("The %s is longer than %d bytes.", name, MaxIDLength))}
		}
	}
	if oi := r.Header[headerOriginatingIdentity]; len(oi) > 0 {
		m.OriginatingIdentity, _ = ParseOriginatingIdentity(oi[0])
	}
	return rt.fn(r, m)
}

func (h *Handler) apiVersion(r *http.Request) (APIVersion, result, bool) {
	hv := r.Header[headerAPIVersion]
	if len(hv) == 0 || hv[0] == "" {
		return APIVersion{}, result{err: NewError(h.opts.MissingVersionStatus, "",
			"The X-Broker-API-Version header is required; this broker implements version "+Version.String()+".")}, false
	}
	v, ok := parseAPIVersion(hv[0])
	if !ok || v.Major != 2 || v.Less(h.opts.MinAPIVersion) {
		return APIVersion{}, result{err: NewError(http.StatusPreconditionFailed, "",
			fmt.Sprintf("X-Broker-API-Version %q is not supported; use a 2.x version from %s to %s.",
				truncate(hv[0], 20), h.opts.MinAPIVersion, Version))}, false
	}
	return v, result{}, true
}

func parseAPIVersion(s string) (APIVersion, bool) {
	major, minor, ok := cutDot(s)
	if !ok {
		return APIVersion{}, false
	}
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	if err1 != nil || err2 != nil || ma < 0 || mi < 0 || major[0] == '+' || minor[0] == '+' {
		return APIVersion{}, false
	}
	return APIVersion{ma, mi}, true
}

func cutDot(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:], i > 0 && i < len(s)-1
		}
	}
	return "", "", false
}

// write sends res and logs the request. It is the only place that writes
// a response.
func (h *Handler) write(w http.ResponseWriter, r *http.Request, ep endpoint, m *Meta, start time.Time, res result) {
	hdr := w.Header()
	hdr["Content-Type"] = jsonContentType
	var body []byte
	status := res.status
	internal := false
	if res.err != nil {
		var eb errorBody
		var ok bool
		status, eb, ok = answer(ep, res.err)
		internal = !ok
		if status == http.StatusUnauthorized {
			if _, basic := h.opts.Authenticator.(*basicAuth); basic {
				hdr["Www-Authenticate"] = []string{`Basic realm="Open Service Broker"`}
			}
		}
		if eb == (errorBody{}) {
			body = emptyObject
		} else {
			body, _ = marshal(eb)
		}
	} else if res.raw != nil {
		body = res.raw
	} else if res.body == nil {
		body = emptyObject
	} else {
		var err error
		if body, err = marshal(res.body); err != nil {
			// Only a backend's value (metadata, credentials) can fail to
			// encode; that is the backend's fault, and a 500.
			res.err = fmt.Errorf("broker: encoding the %s response: %w", ep, err)
			status, internal = http.StatusInternalServerError, true
			body, _ = json.Marshal(errorBody{Description: "Internal error; the broker's log has the details."})
		}
	}
	if status == http.StatusMethodNotAllowed && res.allow != "" {
		hdr["Allow"] = []string{res.allow}
	}
	if res.retryAfter > 0 && status == http.StatusOK {
		hdr["Retry-After"] = []string{strconv.FormatInt(int64((res.retryAfter+time.Second-1)/time.Second), 10)}
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	h.logRequest(r.Context(), r, ep, m, start, status, internal, res)
}

func (h *Handler) logRequest(ctx context.Context, r *http.Request, ep endpoint, m *Meta, start time.Time, status int, internal bool, res result) {
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelError
	}
	if !h.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("method", r.Method),
		slog.String("endpoint", ep.String()),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)))
	if res.instanceID != "" {
		attrs = append(attrs, slog.String("instance_id", res.instanceID))
	}
	if res.bindingID != "" {
		attrs = append(attrs, slog.String("binding_id", res.bindingID))
	}
	if m != nil {
		if m.RequestIdentity != "" {
			attrs = append(attrs, slog.String("request_identity", m.RequestIdentity))
		}
		if m.OriginatingIdentity != nil {
			attrs = append(attrs, slog.Any("originating_identity", m.OriginatingIdentity))
		}
	}
	if res.err != nil {
		attrs = append(attrs, slog.String("error", res.err.Error()))
	}
	msg := "osb request"
	if internal {
		msg = "osb request failed"
	}
	h.log.LogAttrs(ctx, level, msg, attrs...)
}

// readBody reads a request body of at most MaxBodyBytes and checks its
// Content-Type: application/json, or none at all.
func (h *Handler) readBody(r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, badRequest("The request body must be application/json.")
		}
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, h.opts.MaxBodyBytes+1))
	if err != nil {
		return nil, badRequest("The request body could not be read.")
	}
	if int64(len(b)) > h.opts.MaxBodyBytes {
		return nil, badRequest(fmt.Sprintf("The request body exceeds %d bytes.", h.opts.MaxBodyBytes))
	}
	return b, nil
}

// marshal encodes v as JSON without HTML escaping: descriptions read as
// written ("must be >= 1", not "must be \u003e= 1").
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func badRequest(description string) *Error {
	return &Error{Status: http.StatusBadRequest, Description: description}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
