package provisionertest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

const (
	apiVersion = "2010-05-15"
	xmlns      = "http://cloudformation.amazonaws.com/doc/2010-05-15/"

	defaultRegion      = "us-east-1"
	defaultAccountID   = "123456789012"
	defaultPageSize    = 100
	defaultMaxAttempts = 3
	defaultMaxBackoff  = 10 * time.Millisecond

	// maxRequestBytes bounds a request body. CloudFormation's own limit on
	// TemplateBody is 51,200 bytes; the rest is headroom for parameters.
	maxRequestBytes = 1 << 20
)

// Options configure a [CloudFormation]. The zero value is a fake in
// us-east-1, account 123456789012, on the real clock, whose operations all
// succeed at once, with no faults.
type Options struct {
	// Region and AccountID go into stack IDs and into [CloudFormation.Config].
	// Defaults: "us-east-1" and "123456789012".
	Region, AccountID string

	// Clock is the time by which stacks progress. Default: time.Now. A test
	// that moves a fake clock forward sees stacks change state on its next
	// call, deterministically.
	Clock func() time.Time

	// Script decides how each accepted CreateStack, UpdateStack and
	// DeleteStack unfolds. It is called once per operation, without the
	// fake's lock held (it may call the fake's methods). Default: an
	// operation that succeeds after DefaultDelay.
	Script func(op Op) Script

	// DefaultDelay is the Delay of every operation when Script is nil.
	// Zero completes operations on the next call that looks at the stack.
	DefaultDelay time.Duration

	// Fault decides, for each incoming API call, whether to answer with a
	// fault instead. It is called before the call is handled, without the
	// fake's lock held, from the request's goroutine (so possibly from
	// several at once). A nil Fault, or a nil result, means no fault.
	Fault func(call Call) *Fault

	// PageSize is the page size of DescribeStacks (without a StackName),
	// ListStacks and DescribeStackEvents. Default 100. (Real CloudFormation
	// pages too; moto pages DescribeStacks by 50 and ListStacks not at all.)
	PageSize int

	// RequiredCapabilities, when set, are capabilities every CreateStack and
	// UpdateStack must acknowledge; a call missing one fails with
	// InsufficientCapabilitiesException, as real CloudFormation does for a
	// template with IAM resources. Unset, capabilities are stored, not
	// checked.
	RequiredCapabilities []string

	// StackLimit, when positive, is the number of live (not DELETE_COMPLETE)
	// stacks beyond which CreateStack fails with LimitExceededException, as
	// real CloudFormation does at its stacks-per-region quota. Note that the
	// SDK's standard retryer retries LimitExceededException.
	StackLimit int

	// MaxAttempts and MaxBackoff configure the retryer of
	// [CloudFormation.Config]: the SDK's standard retryer without its
	// retry-token bucket. Defaults: 3 attempts (the SDK's default) and 10ms
	// (so fault tests run fast; the SDK's default is 20s, with a 1s base
	// delay after throttling).
	MaxAttempts int
	MaxBackoff  time.Duration
}

// Op is an operation the fake has accepted, as handed to [Options.Script].
type Op struct {
	// Action is "CreateStack", "UpdateStack" or "DeleteStack".
	Action string
	// StackName and StackID identify the stack.
	StackName, StackID string
	// Parameters are the stack's parameters as the operation sets them
	// (UsePreviousValue resolved). For DeleteStack, the stack's current ones.
	Parameters Parameters
	// TemplateBody or TemplateURL is the operation's template
	// (UsePreviousTemplate resolved). For DeleteStack, the stack's current one.
	TemplateBody, TemplateURL string
	// ClientRequestToken is the token the call carried, if any.
	ClientRequestToken string
	// RetainResources are the logical IDs a DeleteStack asked to retain.
	RetainResources []string
	// Attempt counts, from 1, the operations of this Action accepted for
	// stacks of this name, including earlier stacks of the same name that
	// were deleted. A script can fail a first delete and let the second
	// succeed, or fail the first create only.
	Attempt int
}

// Script says how one operation unfolds. The zero Script succeeds at once.
//
// By Clock, the stack is in the operation's *_IN_PROGRESS state for Delay.
// Then, on success: CreateStack reaches CREATE_COMPLETE; UpdateStack
// reaches UPDATE_COMPLETE_CLEANUP_IN_PROGRESS for CleanupDelay, then
// UPDATE_COMPLETE; DeleteStack reaches DELETE_COMPLETE. On failure
// (Fail): CreateStack goes to ROLLBACK_IN_PROGRESS for RollbackDelay, then
// ROLLBACK_COMPLETE (CREATE_FAILED at once when the call sent
// DisableRollback=true or OnFailure=DO_NOTHING; DELETE_IN_PROGRESS for
// RollbackDelay, then DELETE_COMPLETE, with OnFailure=DELETE);
// UpdateStack goes to UPDATE_ROLLBACK_IN_PROGRESS for RollbackDelay, then
// UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS for CleanupDelay, then
// UPDATE_ROLLBACK_COMPLETE, with the previous template, parameters, tags
// and outputs restored (UPDATE_FAILED at once with DisableRollback=true);
// DeleteStack reaches DELETE_FAILED.
type Script struct {
	// Delay is how long the operation stays *_IN_PROGRESS.
	Delay time.Duration
	// Fail makes the operation fail.
	Fail bool
	// FailedResources are the resources that fail, in the order they fail:
	// the first is the root cause. Each gets a *_IN_PROGRESS event when the
	// operation starts and a *_FAILED event when it fails; a later one
	// without a Reason gets "Resource creation cancelled" (or "Resource
	// update cancelled"), the cascade real CloudFormation reports. With
	// Fail and no FailedResources, one resource fails: logical ID
	// "Resource", type "AWS::CloudFormation::WaitConditionHandle", reason
	// "Scripted failure". Ignored without Fail.
	FailedResources []ResourceFailure
	// Outputs are the stack's outputs once the operation succeeds. For an
	// update, nil keeps the stack's outputs.
	Outputs map[string]string
	// RollbackDelay is the time spent in ROLLBACK_IN_PROGRESS or
	// UPDATE_ROLLBACK_IN_PROGRESS (also after CancelUpdateStack).
	RollbackDelay time.Duration
	// CleanupDelay is the time spent in UPDATE_COMPLETE_CLEANUP_IN_PROGRESS
	// or UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS.
	CleanupDelay time.Duration
	// FinalStatus, if set, replaces the operation's terminal status (any of
	// the 23 stack statuses, e.g. "UPDATE_ROLLBACK_FAILED",
	// "ROLLBACK_FAILED", "IMPORT_ROLLBACK_COMPLETE"); the cleanup phase is
	// then skipped. With Fail, the stack keeps the failure's status reason
	// ("The following resource(s) failed to …") in that status; without,
	// it has none. An *_IN_PROGRESS FinalStatus leaves the stack stuck
	// there. "DELETE_COMPLETE" deletes the stack.
	FinalStatus string
}

// ResourceFailure is one resource's failure in a [Script].
type ResourceFailure struct {
	// LogicalID is the resource's logical ID. Default "Resource".
	LogicalID string
	// Type is its resource type. Default
	// "AWS::CloudFormation::WaitConditionHandle".
	Type string
	// Reason is the ResourceStatusReason of its *_FAILED event.
	Reason string
}

// Call is one incoming API call, as handed to [Options.Fault].
type Call struct {
	// Action is the call's Action parameter ("" if absent).
	Action string
	// N numbers all calls to the fake, from 1; ActionN numbers the calls of
	// this Action, from 1. Faulted calls and SDK retries count.
	N, ActionN int64
	// StackName is the call's StackName parameter, a name or a stack ID.
	StackName string
}

// Fault is an error answer that [Options.Fault] injects, written in the
// Query protocol's XML error format with the given HTTP status.
type Fault struct {
	// Status is the HTTP status. Default 400, or 500 for Type "Receiver".
	Status int
	// Code and Message are the error's code and message.
	Code, Message string
	// Type is "Sender" or "Receiver". Default "Sender" below status 500,
	// "Receiver" from 500.
	Type string
	// Applied makes the call take effect before the fault is returned, as
	// when the answer is lost on its way back: a retried CreateStack then
	// meets the stack its first attempt created.
	Applied bool
}

// Throttling is the fault real CloudFormation answers when a caller
// exceeds its request rate: HTTP 400, code "Throttling", "Rate exceeded".
// The SDK's standard retryer retries it.
func Throttling() *Fault {
	return &Fault{Status: http.StatusBadRequest, Type: "Sender", Code: "Throttling", Message: "Rate exceeded"}
}

// InternalFailure is HTTP 500, code "InternalFailure". The SDK's standard
// retryer retries it.
func InternalFailure() *Fault {
	return &Fault{Status: http.StatusInternalServerError, Type: "Receiver", Code: "InternalFailure",
		Message: "The request processing has failed because of an unknown error, exception or failure."}
}

// ServiceUnavailable is HTTP 503, code "ServiceUnavailable". The SDK's
// standard retryer retries it.
func ServiceUnavailable() *Fault {
	return &Fault{Status: http.StatusServiceUnavailable, Type: "Receiver", Code: "ServiceUnavailable",
		Message: "The request has failed due to a temporary failure of the server."}
}

// CloudFormation is a fake CloudFormation endpoint: an [http.Handler]
// speaking the AWS Query protocol to the real SDK client. See the package
// documentation for what it models. It is safe for concurrent use. Build
// it with [New] or [NewServer]; the zero value is not usable.
type CloudFormation struct {
	opts Options

	mu       sync.Mutex
	byID     map[string]*stack
	byName   map[string]*stack // live stacks only
	order    []*stack          // by seq, which is creation order
	live     int               // stacks not DELETE_COMPLETE, possibly stale-high (see countLive)
	seq      int64
	attempts map[attemptKey]int
	calls    map[string]int64
	total    int64

	idMu sync.Mutex
	ids  uint64 // state of the deterministic UUID generator
}

type attemptKey struct{ action, name string }

// New returns a fake with no stacks. It copies opts.
func New(opts Options) *CloudFormation {
	if opts.Region == "" {
		opts.Region = defaultRegion
	}
	if opts.AccountID == "" {
		opts.AccountID = defaultAccountID
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.PageSize <= 0 {
		opts.PageSize = defaultPageSize
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = defaultMaxAttempts
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = defaultMaxBackoff
	}
	opts.RequiredCapabilities = append([]string(nil), opts.RequiredCapabilities...)
	return &CloudFormation{
		opts:     opts,
		byID:     map[string]*stack{},
		byName:   map[string]*stack{},
		attempts: map[attemptKey]int{},
		calls:    map[string]int64{},
		ids:      0x5eed_cf00_2010_0515,
	}
}

// NewServer returns a fake served by an httptest.Server, which is closed
// when t's test ends.
func NewServer(t testing.TB, opts Options) (*CloudFormation, *httptest.Server) {
	t.Helper()
	f := New(opts)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

// Config returns an aws.Config for a client of the fake at url (a
// server's URL): the fake's region, static dummy credentials, BaseEndpoint
// url, an HTTP client from awshttp.NewBuildableClient (a plain
// http.Client breaks config loading when AWS_CA_BUNDLE is set), and the
// SDK's standard retryer with [Options.MaxAttempts] and
// [Options.MaxBackoff] and no retry-token bucket (ratelimit.None), so
// fault tests are fast and never run out of retry tokens. It reads no
// environment variables or shared config files.
func (f *CloudFormation) Config(url string) aws.Config {
	maxAttempts, maxBackoff := f.opts.MaxAttempts, f.opts.MaxBackoff
	return aws.Config{
		Region:           f.opts.Region,
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDPROVISIONERTEST", "provisionertest-secret", ""),
		BaseEndpoint:     aws.String(url),
		HTTPClient:       awshttp.NewBuildableClient(),
		RetryMaxAttempts: maxAttempts,
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = maxAttempts
				o.MaxBackoff = maxBackoff
				o.RateLimiter = ratelimit.None
			})
		},
	}
}

// Calls returns the number of calls per Action so far, faulted calls and
// SDK retries included.
func (f *CloudFormation) Calls() map[string]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int64, len(f.calls))
	for k, v := range f.calls {
		out[k] = v
	}
	return out
}

// CallsTotal returns the number of calls so far, faulted calls and SDK
// retries included.
func (f *CloudFormation) CallsTotal() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.total
}

func (f *CloudFormation) now() time.Time { return f.opts.Clock() }

// count records a call and returns its Call.
func (f *CloudFormation) count(action, stackName string) Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.total++
	f.calls[action]++
	return Call{Action: action, N: f.total, ActionN: f.calls[action], StackName: stackName}
}

// handler handles one action: it appends the inner XML of the action's
// Result element to b, or returns an error.
type handler func(f *CloudFormation, form url.Values, now time.Time, b *xmlBuf) *apiError

var handlers = map[string]handler{
	"CreateStack":                 (*CloudFormation).createStack,
	"UpdateStack":                 (*CloudFormation).updateStack,
	"DeleteStack":                 (*CloudFormation).deleteStack,
	"DescribeStacks":              (*CloudFormation).describeStacks,
	"DescribeStackEvents":         (*CloudFormation).describeStackEvents,
	"ListStacks":                  (*CloudFormation).listStacks,
	"UpdateTerminationProtection": (*CloudFormation).updateTerminationProtection,
	"CancelUpdateStack":           (*CloudFormation).cancelUpdateStack,
}

// noResult lists the actions whose answer has no Result element, as real
// CloudFormation's have none (the SDK models their output as empty).
var noResult = map[string]bool{"DeleteStack": true, "CancelUpdateStack": true}

var bufPool = sync.Pool{New: func() any { return new(xmlBuf) }}

// ServeHTTP answers one Query protocol call.
func (f *CloudFormation) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBytes)
	if err := r.ParseForm(); err != nil {
		f.count("", "")
		writeError(w, f.uuid(), &apiError{status: http.StatusBadRequest, code: "MalformedQueryString", message: "The request could not be parsed."})
		return
	}
	form := r.Form
	action := form.Get("Action")
	call := f.count(action, form.Get("StackName"))
	reqID := f.uuid()

	var fault *Fault
	if f.opts.Fault != nil {
		fault = f.opts.Fault(call)
	}
	if fault != nil && !fault.Applied {
		writeError(w, reqID, fault.apiError())
		return
	}

	b := bufPool.Get().(*xmlBuf)
	defer func() {
		if b.Cap() <= 1<<20 {
			b.Reset()
			bufPool.Put(b)
		}
	}()
	b.Reset()

	var aerr *apiError
	h := handlers[action]
	switch {
	case action == "":
		aerr = &apiError{status: http.StatusBadRequest, code: "MissingAction", message: "Missing Action"}
	case h == nil:
		aerr = &apiError{status: http.StatusBadRequest, code: "InvalidAction", message: "Could not find operation " + action + " for version " + apiVersion}
	default:
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<")
		b.WriteString(action)
		b.WriteString(`Response xmlns="` + xmlns + `">`)
		if !noResult[action] {
			b.open(action + "Result")
		}
		aerr = h(f, form, f.now(), b)
		if !noResult[action] {
			b.close(action + "Result")
		}
		b.WriteString("<ResponseMetadata><RequestId>")
		b.WriteString(reqID)
		b.WriteString("</RequestId></ResponseMetadata></")
		b.WriteString(action)
		b.WriteString("Response>")
	}
	switch {
	case fault != nil:
		writeError(w, reqID, fault.apiError())
	case aerr != nil:
		writeError(w, reqID, aerr)
	default:
		w.Header().Set("Content-Type", "text/xml")
		w.Header().Set("x-amzn-RequestId", reqID)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b.Bytes())
	}
}

// apiError is an error answer.
type apiError struct {
	status        int
	code, message string
	typ           string // default Sender below 500, Receiver from 500
}

func (f *Fault) apiError() *apiError {
	e := &apiError{status: f.Status, code: f.Code, message: f.Message, typ: f.Type}
	if e.status == 0 {
		e.status = http.StatusBadRequest
		if e.typ == "Receiver" {
			e.status = http.StatusInternalServerError
		}
	}
	return e
}

func validationError(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "ValidationError", message: msg}
}

func writeError(w http.ResponseWriter, reqID string, e *apiError) {
	typ := e.typ
	if typ == "" {
		typ = "Sender"
		if e.status >= 500 {
			typ = "Receiver"
		}
	}
	var b xmlBuf
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<ErrorResponse xmlns="` + xmlns + `"><Error>`)
	b.text("Type", typ)
	b.text("Code", e.code)
	b.text("Message", e.message)
	b.WriteString("</Error>")
	b.text("RequestId", reqID)
	b.WriteString("</ErrorResponse>")
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", reqID)
	w.WriteHeader(e.status)
	_, _ = w.Write(b.Bytes())
}

// uuid returns the next of a deterministic sequence of version-4-shaped
// UUIDs, so that two runs of a test see the same stack IDs.
func (f *CloudFormation) uuid() string {
	f.idMu.Lock()
	f.ids += 0x9e3779b97f4a7c15
	z := f.ids
	f.idMu.Unlock()
	hi, lo := splitmix(z), splitmix(z^0xdeadbeefcafef00d)
	var buf [36]byte
	const hexdigits = "0123456789abcdef"
	put := func(at int, v uint64, n int) {
		for i := n - 1; i >= 0; i-- {
			buf[at+i] = hexdigits[v&0xf]
			v >>= 4
		}
	}
	put(0, hi>>32, 8)
	buf[8] = '-'
	put(9, hi>>16, 4)
	buf[13] = '-'
	put(14, 0x4000|(hi&0x0fff), 4)
	buf[18] = '-'
	put(19, 0x8000|(lo>>48&0x3fff), 4)
	buf[23] = '-'
	put(24, lo, 12)
	return string(buf[:])
}

func splitmix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// xmlBuf builds XML answers.
type xmlBuf struct{ bytes.Buffer }

func (b *xmlBuf) open(name string) {
	b.WriteByte('<')
	b.WriteString(name)
	b.WriteByte('>')
}

func (b *xmlBuf) close(name string) {
	b.WriteString("</")
	b.WriteString(name)
	b.WriteByte('>')
}

// text writes <name>v</name>, escaped, unless v is empty.
func (b *xmlBuf) text(name, v string) {
	if v == "" {
		return
	}
	b.open(name)
	b.escape(v)
	b.close(name)
}

func (b *xmlBuf) boolean(name string, v bool) {
	if v {
		b.text(name, "true")
	} else {
		b.text(name, "false")
	}
}

const timeLayout = "2006-01-02T15:04:05.000Z"

func (b *xmlBuf) time(name string, t time.Time) {
	if t.IsZero() {
		return
	}
	b.open(name)
	var tmp [32]byte
	b.Write(t.UTC().AppendFormat(tmp[:0], timeLayout))
	b.close(name)
}

func (b *xmlBuf) escape(s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '&':
			esc = "&amp;"
		case '"':
			esc = "&quot;"
		case '\'':
			esc = "&apos;"
		case '\n':
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		case '\t':
			esc = "&#x9;"
		default:
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(esc)
		last = i + 1
	}
	b.WriteString(s[last:])
}

// sortedKeys returns m's keys, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
