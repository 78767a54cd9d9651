package brokertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/catalog"
)

// ClientOptions configure a [Client]. The zero value talks OSB API 2.17,
// without authentication, through [http.DefaultClient].
type ClientOptions struct {
	// Username and Password are sent with HTTP Basic authentication on
	// every request, unless both are empty.
	Username string
	Password string
	// APIVersion is the X-Broker-API-Version header; "2.17" when empty.
	APIVersion string
	// HTTPClient sends the requests; http.DefaultClient when nil.
	HTTPClient *http.Client
	// OriginatingIdentity, if not empty, is sent as the
	// X-Broker-API-Originating-Identity header: a platform name, a space
	// and base64-encoded JSON (see [OriginatingIdentity]).
	OriginatingIdentity string
	// RequestIdentity returns the X-Broker-API-Request-Identity value of
	// each request; a returned "" sends none. When nil, every request gets
	// a fresh random UUID, as platforms do.
	RequestIdentity func() string
	// OnResponse, if not nil, is called with every response the Client
	// receives, after its body has been read in full into body (so
	// resp.Body is already drained). It runs on the goroutine of the call
	// that sent the request. The conformance suite uses it to check every
	// response.
	OnResponse func(req *http.Request, resp *http.Response, body []byte)
}

// String describes the options without the password.
func (o ClientOptions) String() string {
	return fmt.Sprintf("brokertest.ClientOptions{Username:%q Password:[redacted] APIVersion:%q}", o.Username, o.APIVersion)
}

// GoString is String, so %#v cannot print the password either.
func (o ClientOptions) GoString() string { return o.String() }

// Format prints String for every verb, so no verb can print the password.
func (o ClientOptions) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, o.String()) }

// OriginatingIdentity encodes an X-Broker-API-Originating-Identity value:
// the platform, a space, and the base64 encoding of value as JSON. It
// panics if value cannot be encoded as JSON.
func OriginatingIdentity(platform string, value map[string]any) string {
	b, err := json.Marshal(value)
	if err != nil {
		panic("brokertest: OriginatingIdentity value is not JSON-encodable")
	}
	return platform + " " + base64.StdEncoding.EncodeToString(b)
}

// Client is a typed OSB API v2.17 client that behaves like a platform: it
// sends the version, authentication and identity headers, percent-encodes
// path segments and query values, and keeps every response body as raw
// bytes beside its decoded form so that tests can examine both.
//
// A Client is safe for concurrent use. It never treats a non-2xx status as
// an error: it is a [Response] whose Error holds the decoded OSB error
// body, and whose Err method returns a *[StatusError].
//
// No error string from a Client holds a password, credentials or
// parameters.
type Client struct {
	base string
	opts ClientOptions
}

// NewClient returns a Client for the broker at baseURL (such as
// httptest.Server.URL, or "https://broker.example.com/prefix"). It copies
// opts.
func NewClient(baseURL string, opts ClientOptions) *Client {
	if opts.APIVersion == "" {
		opts.APIVersion = "2.17"
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	if opts.RequestIdentity == nil {
		opts.RequestIdentity = NewUUID
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), opts: opts}
}

// String returns "brokertest.Client(" + baseURL + ")", never the options.
func (c *Client) String() string { return "brokertest.Client(" + c.base + ")" }

// Format prints String for every verb, so no verb can print the password.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// Response is a broker's answer to one request.
type Response[T any] struct {
	// StatusCode and Header are the HTTP response's.
	StatusCode int
	Header     http.Header
	// Body is the whole response body, as received.
	Body []byte
	// Value is Body decoded, for a 2xx status; the zero T otherwise.
	Value T
	// Error is Body decoded as an OSB error object, for any other status;
	// nil for a 2xx or a body that is not a JSON object.
	Error *ErrorBody

	method, path string
}

// Format prints the status and the body's size for every verb: the body
// may hold credentials, so print string(r.Body) explicitly to see it.
func (r Response[T]) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "brokertest.Response{%d %s, %d bytes}", r.StatusCode, http.StatusText(r.StatusCode), len(r.Body))
}

// OK reports whether StatusCode is 2xx.
func (r *Response[T]) OK() bool { return r.StatusCode >= 200 && r.StatusCode <= 299 }

// Err returns nil for a 2xx status and a *[StatusError] otherwise.
func (r *Response[T]) Err() error {
	if r.OK() {
		return nil
	}
	e := &StatusError{Method: r.method, Path: r.path, StatusCode: r.StatusCode}
	if r.Error != nil {
		e.Body = *r.Error
	}
	return e
}

// RetryAfter returns the Retry-After header as a duration: whole seconds,
// or an HTTP date relative to now. ok is false when the header is absent
// or neither.
func (r *Response[T]) RetryAfter() (d time.Duration, ok bool) {
	return parseRetryAfter(r.Header.Get("Retry-After"), time.Now())
}

func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > int64(24*time.Hour/time.Second) {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// ErrorBody is the OSB error object.
type ErrorBody struct {
	// Code is the "error" field: a CamelCase code such as
	// "ConcurrencyError", or "".
	Code        string `json:"error,omitempty"`
	Description string `json:"description,omitempty"`
	// InstanceUsable and UpdateRepeatable are sent only on update and
	// deprovision errors.
	InstanceUsable   *bool `json:"instance_usable,omitempty"`
	UpdateRepeatable *bool `json:"update_repeatable,omitempty"`
}

// StatusError is a non-2xx answer, as an error.
type StatusError struct {
	Method     string
	Path       string // escaped, without the query
	StatusCode int
	Body       ErrorBody
}

// Error reads like "brokertest: PUT /v2/service_instances/x: 409 Conflict:
// A Service Instance with this ID already exists with different
// attributes." It holds the broker's error code and description, which the
// spec makes user-facing, and nothing from the request.
func (e *StatusError) Error() string {
	msg := fmt.Sprintf("brokertest: %s %s: %d %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Body.Code != "" {
		msg += " (" + e.Body.Code + ")"
	}
	if e.Body.Description != "" {
		msg += ": " + e.Body.Description
	}
	return msg
}

// MaintenanceInfo is the maintenance_info object of a request.
type MaintenanceInfo struct {
	Version string `json:"version"`
}

// ProvisionRequest is PUT /v2/service_instances/:instance_id.
type ProvisionRequest struct {
	InstanceID       string
	ServiceID        string
	PlanID           string
	OrganizationGUID string
	SpaceGUID        string
	Context          map[string]any
	// Parameters print their names only (see [broker.Parameters]).
	Parameters        broker.Parameters
	MaintenanceInfo   *MaintenanceInfo
	AcceptsIncomplete bool
}

// ProvisionResponse is the body of a provision's 200, 201 or 202.
type ProvisionResponse struct {
	Operation    string                   `json:"operation,omitempty"`
	DashboardURL string                   `json:"dashboard_url,omitempty"`
	Metadata     *broker.InstanceMetadata `json:"metadata,omitempty"`
}

// PreviousValues is the previous_values object of an update.
type PreviousValues struct {
	PlanID          string           `json:"plan_id,omitempty"`
	ServiceID       string           `json:"service_id,omitempty"`
	OrganizationID  string           `json:"organization_id,omitempty"`
	SpaceID         string           `json:"space_id,omitempty"`
	MaintenanceInfo *MaintenanceInfo `json:"maintenance_info,omitempty"`
}

// UpdateRequest is PATCH /v2/service_instances/:instance_id. Empty or nil
// fields are left out of the body.
type UpdateRequest struct {
	InstanceID        string
	ServiceID         string
	PlanID            string
	Context           map[string]any
	Parameters        broker.Parameters
	MaintenanceInfo   *MaintenanceInfo
	PreviousValues    *PreviousValues
	AcceptsIncomplete bool
}

// UpdateResponse is the body of an update's 200 or 202.
type UpdateResponse = ProvisionResponse

// DeprovisionRequest is DELETE /v2/service_instances/:instance_id.
type DeprovisionRequest struct {
	InstanceID        string
	ServiceID         string
	PlanID            string
	AcceptsIncomplete bool
}

// OperationResponse is the body of a deprovision's or unbind's 200 or 202.
type OperationResponse struct {
	Operation string `json:"operation,omitempty"`
}

// GetInstanceRequest is GET /v2/service_instances/:instance_id.
// ServiceID and PlanID are optional hints.
type GetInstanceRequest struct {
	InstanceID string
	ServiceID  string
	PlanID     string
}

// Instance is the body of GET /v2/service_instances/:instance_id.
type Instance struct {
	ServiceID       string                   `json:"service_id"`
	PlanID          string                   `json:"plan_id"`
	DashboardURL    string                   `json:"dashboard_url,omitempty"`
	Parameters      broker.Parameters        `json:"parameters,omitempty"`
	MaintenanceInfo *catalog.MaintenanceInfo `json:"maintenance_info,omitempty"`
	Metadata        *broker.InstanceMetadata `json:"metadata,omitempty"`
}

// LastOperationRequest is GET /v2/service_instances/:instance_id/last_operation.
// Every field but InstanceID is optional.
type LastOperationRequest struct {
	InstanceID string
	ServiceID  string
	PlanID     string
	Operation  string
}

// LastOperation is the body of a last_operation 200.
type LastOperation struct {
	State            broker.State `json:"state"`
	Description      string       `json:"description,omitempty"`
	InstanceUsable   *bool        `json:"instance_usable,omitempty"`
	UpdateRepeatable *bool        `json:"update_repeatable,omitempty"`
}

// BindRequest is PUT /v2/service_instances/:instance_id/service_bindings/:binding_id.
type BindRequest struct {
	InstanceID string
	BindingID  string
	ServiceID  string
	PlanID     string
	// AppGUID is the deprecated top-level app_guid; BindResource is sent
	// as is.
	AppGUID              string
	BindResource         map[string]any
	Context              map[string]any
	Parameters           broker.Parameters
	PredecessorBindingID string
	AcceptsIncomplete    bool
}

// BindingMetadata is a binding's metadata object.
type BindingMetadata struct {
	ExpiresAt   string `json:"expires_at,omitempty"`
	RenewBefore string `json:"renew_before,omitempty"`
}

// Binding is the body of a bind's 200 or 201, or of GET binding.
type Binding struct {
	// Credentials print their keys only (see [broker.Credentials]).
	Credentials     broker.Credentials   `json:"credentials,omitempty"`
	Metadata        *BindingMetadata     `json:"metadata,omitempty"`
	SyslogDrainURL  string               `json:"syslog_drain_url,omitempty"`
	RouteServiceURL string               `json:"route_service_url,omitempty"`
	VolumeMounts    []broker.VolumeMount `json:"volume_mounts,omitempty"`
	Endpoints       []broker.Endpoint    `json:"endpoints,omitempty"`
	// Parameters are sent by GET binding only.
	Parameters broker.Parameters `json:"parameters,omitempty"`
}

// BindResponse is the body of a bind's 200, 201 or 202 (which carries
// only Operation).
type BindResponse struct {
	Operation string `json:"operation,omitempty"`
	Binding
}

// UnbindRequest is DELETE /v2/service_instances/:instance_id/service_bindings/:binding_id.
type UnbindRequest struct {
	InstanceID        string
	BindingID         string
	ServiceID         string
	PlanID            string
	AcceptsIncomplete bool
}

// GetBindingRequest is GET /v2/service_instances/:instance_id/service_bindings/:binding_id.
type GetBindingRequest struct {
	InstanceID string
	BindingID  string
	ServiceID  string
	PlanID     string
}

// BindingLastOperationRequest is GET …/service_bindings/:binding_id/last_operation.
type BindingLastOperationRequest struct {
	InstanceID string
	BindingID  string
	ServiceID  string
	PlanID     string
	Operation  string
}

// InstancePath returns the escaped path of an instance.
func InstancePath(instanceID string) string {
	return "/v2/service_instances/" + escapeSegment(instanceID)
}

// BindingPath returns the escaped path of a binding.
func BindingPath(instanceID, bindingID string) string {
	return InstancePath(instanceID) + "/service_bindings/" + escapeSegment(bindingID)
}

// escapeSegment percent-encodes s as one path segment. The dot segments
// "." and ".." are encoded too, which url.PathEscape leaves alone, so that
// no client or server resolves them.
func escapeSegment(s string) string {
	if s == "." || s == ".." {
		return strings.Repeat("%2E", len(s))
	}
	return url.PathEscape(s)
}

// Catalog fetches GET /v2/catalog.
func (c *Client) Catalog(ctx context.Context) (*Response[catalog.Catalog], error) {
	return call[catalog.Catalog](ctx, c, http.MethodGet, "/v2/catalog", nil, nil)
}

// Provision sends PUT /v2/service_instances/:instance_id.
func (c *Client) Provision(ctx context.Context, req ProvisionRequest) (*Response[ProvisionResponse], error) {
	body := struct {
		ServiceID        string            `json:"service_id"`
		PlanID           string            `json:"plan_id"`
		OrganizationGUID string            `json:"organization_guid"`
		SpaceGUID        string            `json:"space_guid"`
		Context          map[string]any    `json:"context,omitempty"`
		Parameters       broker.Parameters `json:"parameters,omitempty"`
		MaintenanceInfo  *MaintenanceInfo  `json:"maintenance_info,omitempty"`
	}{req.ServiceID, req.PlanID, req.OrganizationGUID, req.SpaceGUID, req.Context, req.Parameters, req.MaintenanceInfo}
	return callJSON[ProvisionResponse](ctx, c, http.MethodPut, InstancePath(req.InstanceID), incomplete(req.AcceptsIncomplete), body)
}

// Update sends PATCH /v2/service_instances/:instance_id.
func (c *Client) Update(ctx context.Context, req UpdateRequest) (*Response[UpdateResponse], error) {
	body := struct {
		ServiceID       string            `json:"service_id"`
		PlanID          string            `json:"plan_id,omitempty"`
		Context         map[string]any    `json:"context,omitempty"`
		Parameters      broker.Parameters `json:"parameters,omitempty"`
		MaintenanceInfo *MaintenanceInfo  `json:"maintenance_info,omitempty"`
		PreviousValues  *PreviousValues   `json:"previous_values,omitempty"`
	}{req.ServiceID, req.PlanID, req.Context, req.Parameters, req.MaintenanceInfo, req.PreviousValues}
	return callJSON[UpdateResponse](ctx, c, http.MethodPatch, InstancePath(req.InstanceID), incomplete(req.AcceptsIncomplete), body)
}

// Deprovision sends DELETE /v2/service_instances/:instance_id.
func (c *Client) Deprovision(ctx context.Context, req DeprovisionRequest) (*Response[OperationResponse], error) {
	q := hints(req.ServiceID, req.PlanID, "")
	if req.AcceptsIncomplete {
		q.Set("accepts_incomplete", "true")
	}
	return call[OperationResponse](ctx, c, http.MethodDelete, InstancePath(req.InstanceID), q, nil)
}

// GetInstance sends GET /v2/service_instances/:instance_id.
func (c *Client) GetInstance(ctx context.Context, req GetInstanceRequest) (*Response[Instance], error) {
	return call[Instance](ctx, c, http.MethodGet, InstancePath(req.InstanceID), hints(req.ServiceID, req.PlanID, ""), nil)
}

// LastOperation sends GET /v2/service_instances/:instance_id/last_operation.
func (c *Client) LastOperation(ctx context.Context, req LastOperationRequest) (*Response[LastOperation], error) {
	return call[LastOperation](ctx, c, http.MethodGet, InstancePath(req.InstanceID)+"/last_operation",
		hints(req.ServiceID, req.PlanID, req.Operation), nil)
}

// Bind sends PUT /v2/service_instances/:instance_id/service_bindings/:binding_id.
func (c *Client) Bind(ctx context.Context, req BindRequest) (*Response[BindResponse], error) {
	body := struct {
		ServiceID            string            `json:"service_id"`
		PlanID               string            `json:"plan_id"`
		AppGUID              string            `json:"app_guid,omitempty"`
		BindResource         map[string]any    `json:"bind_resource,omitempty"`
		Context              map[string]any    `json:"context,omitempty"`
		Parameters           broker.Parameters `json:"parameters,omitempty"`
		PredecessorBindingID string            `json:"predecessor_binding_id,omitempty"`
	}{req.ServiceID, req.PlanID, req.AppGUID, req.BindResource, req.Context, req.Parameters, req.PredecessorBindingID}
	return callJSON[BindResponse](ctx, c, http.MethodPut, BindingPath(req.InstanceID, req.BindingID), incomplete(req.AcceptsIncomplete), body)
}

// Unbind sends DELETE /v2/service_instances/:instance_id/service_bindings/:binding_id.
func (c *Client) Unbind(ctx context.Context, req UnbindRequest) (*Response[OperationResponse], error) {
	q := hints(req.ServiceID, req.PlanID, "")
	if req.AcceptsIncomplete {
		q.Set("accepts_incomplete", "true")
	}
	return call[OperationResponse](ctx, c, http.MethodDelete, BindingPath(req.InstanceID, req.BindingID), q, nil)
}

// GetBinding sends GET /v2/service_instances/:instance_id/service_bindings/:binding_id.
func (c *Client) GetBinding(ctx context.Context, req GetBindingRequest) (*Response[Binding], error) {
	return call[Binding](ctx, c, http.MethodGet, BindingPath(req.InstanceID, req.BindingID), hints(req.ServiceID, req.PlanID, ""), nil)
}

// BindingLastOperation sends GET …/service_bindings/:binding_id/last_operation.
func (c *Client) BindingLastOperation(ctx context.Context, req BindingLastOperationRequest) (*Response[LastOperation], error) {
	return call[LastOperation](ctx, c, http.MethodGet, BindingPath(req.InstanceID, req.BindingID)+"/last_operation",
		hints(req.ServiceID, req.PlanID, req.Operation), nil)
}

// Do sends any request, for what the typed methods cannot express:
// malformed bodies, missing fields or headers. path is already escaped
// (see [InstancePath] and [BindingPath]); query may be nil; a non-nil body
// is sent with Content-Type application/json. The Client's headers are
// set first, then edit (if not nil) may change anything, such as removing
// X-Broker-API-Version or the credentials. Value holds the body when it is
// JSON.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body []byte, edit func(*http.Request)) (*Response[json.RawMessage], error) {
	resp, err := c.send(ctx, method, path, query, body, edit)
	if err != nil {
		return nil, err
	}
	out := convert[json.RawMessage](resp)
	if out.OK() && json.Valid(out.Body) {
		out.Value = json.RawMessage(out.Body)
	}
	return out, nil
}

// ErrGone is wrapped by the errors of [Client.PollLastOperation] and
// [Client.PollBindingLastOperation] when the broker answers 410 Gone: the
// success of an asynchronous delete, and invalid for anything else.
var ErrGone = errors.New("brokertest: last_operation answered 410 Gone")

// PollOptions configure [Client.PollLastOperation] and
// [Client.PollBindingLastOperation]. The zero value polls every second,
// honours a Retry-After of up to 30 seconds and gives up after 5 minutes.
type PollOptions struct {
	// Interval is the wait between polls when the broker sends no
	// Retry-After; 1s when zero.
	Interval time.Duration
	// MaxInterval caps the wait a Retry-After asks for; 30s when zero.
	MaxInterval time.Duration
	// Timeout bounds the whole polling, besides ctx's deadline; 5 minutes
	// when zero.
	Timeout time.Duration
	// ServiceID and PlanID, if not empty, are sent as hints on every poll,
	// as platforms should. During a plan change PlanID is the old plan.
	ServiceID string
	PlanID    string
}

func (o PollOptions) withDefaults() PollOptions {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.MaxInterval <= 0 {
		o.MaxInterval = 30 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	return o
}

// PollLastOperation polls the instance's last_operation, sending
// operation (if not empty), until the state is "succeeded" or "failed",
// and returns that last answer. It polls at once, then waits the
// Retry-After the broker sent (capped by opts.MaxInterval) or
// opts.Interval between polls.
//
// It stops with an error on 410 Gone (wrapping [ErrGone]: a delete's
// success), on any other status but 200 (a *[StatusError]), on a state the
// spec does not define, and when ctx ends or opts.Timeout passes (wrapping
// ctx's error, with the last state seen returned). Unlike a platform, which
// keeps polling after invalid answers, it reports them at once, since that
// is what a test wants to know.
func (c *Client) PollLastOperation(ctx context.Context, instanceID, operation string, opts PollOptions) (LastOperation, error) {
	return poll(ctx, opts, "instance "+instanceID, func(ctx context.Context) (*Response[LastOperation], error) {
		return c.LastOperation(ctx, LastOperationRequest{InstanceID: instanceID, ServiceID: opts.ServiceID,
			PlanID: opts.PlanID, Operation: operation})
	})
}

// PollBindingLastOperation is [Client.PollLastOperation] for a binding.
func (c *Client) PollBindingLastOperation(ctx context.Context, instanceID, bindingID, operation string, opts PollOptions) (LastOperation, error) {
	return poll(ctx, opts, "binding "+bindingID+" of instance "+instanceID, func(ctx context.Context) (*Response[LastOperation], error) {
		return c.BindingLastOperation(ctx, BindingLastOperationRequest{InstanceID: instanceID, BindingID: bindingID,
			ServiceID: opts.ServiceID, PlanID: opts.PlanID, Operation: operation})
	})
}

func poll(ctx context.Context, opts PollOptions, what string, get func(context.Context) (*Response[LastOperation], error)) (LastOperation, error) {
	opts = opts.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	var last LastOperation
	timedOut := func() (LastOperation, error) {
		state := last.State
		if state == "" {
			state = "unknown"
		}
		return last, fmt.Errorf("brokertest: polling last_operation of %s: state still %q: %w", what, state, ctx.Err())
	}
	for {
		resp, err := get(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return timedOut()
			}
			return last, err
		}
		switch resp.StatusCode {
		case http.StatusOK:
			last = resp.Value
			switch last.State {
			case broker.Succeeded, broker.Failed:
				return last, nil
			case broker.InProgress:
			default:
				return last, fmt.Errorf("brokertest: polling last_operation of %s: state %q is not one the spec defines", what, last.State)
			}
		case http.StatusGone:
			return last, fmt.Errorf("brokertest: polling last_operation of %s: %w", what, ErrGone)
		default:
			return last, resp.Err()
		}
		wait := opts.Interval
		if ra, ok := resp.RetryAfter(); ok {
			wait = min(ra, opts.MaxInterval)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return timedOut()
		case <-t.C:
		}
	}
}

// --- plumbing ---

func incomplete(b bool) url.Values {
	if b {
		return url.Values{"accepts_incomplete": {"true"}}
	}
	return nil
}

func hints(serviceID, planID, operation string) url.Values {
	q := url.Values{}
	if serviceID != "" {
		q.Set("service_id", serviceID)
	}
	if planID != "" {
		q.Set("plan_id", planID)
	}
	if operation != "" {
		q.Set("operation", operation)
	}
	return q
}

// rawResponse is a response with its body read.
type rawResponse struct {
	status       int
	header       http.Header
	body         []byte
	method, path string
}

func (c *Client) send(ctx context.Context, method, path string, query url.Values, body []byte, edit func(*http.Request)) (*rawResponse, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		// The URL holds only the base, IDs and hints: no secrets.
		return nil, fmt.Errorf("brokertest: %s %s: %w", method, path, err)
	}
	req.Header.Set("X-Broker-API-Version", c.opts.APIVersion)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.opts.Username != "" || c.opts.Password != "" {
		req.SetBasicAuth(c.opts.Username, c.opts.Password)
	}
	if c.opts.OriginatingIdentity != "" {
		req.Header.Set("X-Broker-API-Originating-Identity", c.opts.OriginatingIdentity)
	}
	if id := c.opts.RequestIdentity(); id != "" {
		req.Header.Set("X-Broker-API-Request-Identity", id)
	}
	if edit != nil {
		edit(req)
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		// A *url.Error quotes the URL, which holds no secret: credentials
		// travel in a header, never in the URL.
		return nil, fmt.Errorf("brokertest: %s %s: %w", method, path, redactURLError(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("brokertest: %s %s: reading the %d response body: %w", method, path, resp.StatusCode, err)
	}
	if c.opts.OnResponse != nil {
		c.opts.OnResponse(req, resp, b)
	}
	return &rawResponse{status: resp.StatusCode, header: resp.Header, body: b, method: method, path: path}, nil
}

// redactURLError drops a user:password a caller may have put in the base
// URL from a *url.Error.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.User != nil {
			return &url.Error{Op: ue.Op, URL: u.Redacted(), Err: ue.Err}
		}
	}
	return err
}

func convert[T any](r *rawResponse) *Response[T] {
	out := &Response[T]{StatusCode: r.status, Header: r.header, Body: r.body, method: r.method, path: r.path}
	if !out.OK() {
		var eb ErrorBody
		if bytes.HasPrefix(bytes.TrimSpace(r.body), []byte("{")) && json.Unmarshal(r.body, &eb) == nil {
			out.Error = &eb
		}
	}
	return out
}

func call[T any](ctx context.Context, c *Client, method, path string, query url.Values, body []byte) (*Response[T], error) {
	raw, err := c.send(ctx, method, path, query, body, nil)
	if err != nil {
		return nil, err
	}
	out := convert[T](raw)
	if out.OK() {
		if err := decode(raw.body, &out.Value); err != nil {
			return out, fmt.Errorf("brokertest: %s %s: the %d response body %w", method, path, raw.status, err)
		}
	}
	return out, nil
}

func callJSON[T any](ctx context.Context, c *Client, method, path string, query url.Values, body any) (*Response[T], error) {
	b, err := json.Marshal(body)
	if err != nil {
		// encoding/json errors name types, not values.
		return nil, fmt.Errorf("brokertest: %s %s: encoding the request body: %w", method, path, err)
	}
	return call[T](ctx, c, method, path, query, b)
}

// decode decodes a 2xx body. Its errors give a position or a field and a
// type, never a value: bodies can hold credentials.
func decode(body []byte, v any) error {
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case len(bytes.TrimSpace(body)) == 0:
		return errors.New("is empty, not JSON")
	case errors.As(err, &se):
		return fmt.Errorf("is not valid JSON (at byte %d)", se.Offset)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(root)"
		}
		return fmt.Errorf("has %s of JSON type %s where %s was expected", field, te.Value, te.Type)
	}
	return errors.New("cannot be decoded")
}

// NewUUID returns a random (version 4) UUID, such as platforms use for
// instance and binding IDs.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[x>>4], hex[x&0xf])
	}
	return string(out)
}
