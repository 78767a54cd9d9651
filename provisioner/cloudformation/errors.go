package cloudformation

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"

	"github.com/brokerkit/brokerkit/provisioner"
)

// Conditions callers may branch on, found with errors.Is in the errors of
// [Stacks]' methods (inside a [StackError]).
var (
	// ErrNotOwned: a stack with the instance's name exists and is not the
	// instance's (its brokerkit:instance-id tag differs). Terminal,
	// ReasonRefused.
	ErrNotOwned = errors.New("a stack of that name exists and does not belong to the instance")
	// ErrBusy: another operation is in progress on the stack. Terminal,
	// ReasonRefused.
	ErrBusy = errors.New("another operation is in progress on the stack")
	// ErrNotUpdatable: the stack's state does not allow an update (e.g.
	// ROLLBACK_COMPLETE: a create that failed; deprovision the instance).
	// Terminal, ReasonRefused.
	ErrNotUpdatable = errors.New("the stack cannot be updated in its state")
	// ErrTerminationProtected: the stack has termination protection, so
	// deprovisioning it is refused. Terminal, ReasonRefused.
	ErrTerminationProtected = errors.New("the stack has termination protection enabled")
	// ErrStackNotFound: the stack to update does not exist. Terminal,
	// ReasonRefused.
	ErrStackNotFound = errors.New("the stack does not exist")
	// ErrRecreating: a create found the instance's stack from an earlier,
	// failed create (ROLLBACK_COMPLETE) and started deleting it; the
	// create is to be retried once the old stack is gone. Retryable.
	ErrRecreating = errors.New("re-creating: the failed stack is being deleted first")
)

// StackError reports a stack whose state decided the outcome of a call.
// Err is one of the Err… conditions of this package.
type StackError struct {
	// Op is "create", "update" or "delete".
	Op        string
	StackName string
	StackID   string
	// Status is the stack's status when it was read, if known.
	Status string
	Err    error
}

func (e *StackError) Error() string {
	name := cmpOr(e.StackName, e.StackID)
	if e.Status != "" {
		return fmt.Sprintf("cloudformation: %s stack %s (%s): %v", e.Op, name, e.Status, e.Err)
	}
	return fmt.Sprintf("cloudformation: %s stack %s: %v", e.Op, name, e.Err)
}

// Unwrap returns Err.
func (e *StackError) Unwrap() error { return e.Err }

// retryableError marks an error that trying again may fix.
type retryableError struct{ err error }

func (e *retryableError) Error() string        { return e.err.Error() }
func (e *retryableError) Unwrap() error        { return e.err }
func (e *retryableError) RetryableError() bool { return true }

func retryable(err error) error { return &retryableError{err: err} }

// callError is an SDK error with a short message: the call, and the
// error code and message of the API error (without the SDK's request IDs
// and wrapping), with the parameter values the call sent cut out. It
// unwraps to the SDK's error, for errors.As.
type callError struct {
	msg string
	err error
}

func (e *callError) Error() string { return e.msg }
func (e *callError) Unwrap() error { return e.err }

// minRedact is the shortest value cut out of messages: shorter ones
// ("1", "on") are no secret and would mangle unrelated words.
const minRedact = 3

// redact returns s with every value of at least minRedact bytes replaced
// by "***", longest first so that a value containing another is cut
// whole.
func redact(s string, values []string) string {
	vs := make([]string, 0, len(values))
	for _, v := range values {
		if len(v) >= minRedact {
			vs = append(vs, v)
		}
	}
	slices.SortFunc(vs, func(a, b string) int { return len(b) - len(a) })
	for _, v := range vs {
		s = strings.ReplaceAll(s, v, "***")
	}
	return s
}

// Error codes and messages of CloudFormation.
const (
	codeValidation    = "ValidationError"
	codeLimitExceeded = "LimitExceededException"
	msgNoUpdates      = "No updates are to be performed"
	msgDoesNotExist   = "does not exist"
	msgTermination    = "TerminationProtection"
)

// stateRE finds the state in "Stack:… is in ROLLBACK_COMPLETE state and
// can not be updated." and "… cannot be deleted while in status
// UPDATE_COMPLETE_CLEANUP_IN_PROGRESS".
var stateRE = regexp.MustCompile(`(?:is in|in status) ([A-Z_]+)`)

func apiError(err error) (smithy.APIError, bool) {
	var ae smithy.APIError
	ok := errors.As(err, &ae)
	return ae, ok
}

func isValidation(err error, substr string) bool {
	ae, ok := apiError(err)
	return ok && ae.ErrorCode() == codeValidation && strings.Contains(ae.ErrorMessage(), substr)
}

// isNotFound reports the ValidationError of a stack that does not exist.
func isNotFound(err error) bool { return isValidation(err, msgDoesNotExist) }

// isNoUpdates reports the ValidationError of an update that changes
// nothing.
func isNoUpdates(err error) bool { return isValidation(err, msgNoUpdates) }

func isAlreadyExists(err error) bool {
	var ae *types.AlreadyExistsException
	if errors.As(err, &ae) {
		return true
	}
	a, ok := apiError(err)
	return ok && a.ErrorCode() == "AlreadyExistsException"
}

func isQuota(err error) bool {
	var le *types.LimitExceededException
	if errors.As(err, &le) {
		return true
	}
	a, ok := apiError(err)
	return ok && a.ErrorCode() == codeLimitExceeded
}

// isTransient reports throttling, request timeouts and HTTP 5xx.
func isTransient(err error) bool {
	if a, ok := apiError(err); ok {
		code := a.ErrorCode()
		if _, ok := retry.DefaultThrottleErrorCodes[code]; ok && code != codeLimitExceeded {
			return true
		}
		if _, ok := retry.DefaultRetryableErrorCodes[code]; ok {
			return true
		}
		if a.ErrorFault() == smithy.FaultServer {
			return true
		}
	}
	var st interface{ HTTPStatusCode() int }
	return errors.As(err, &st) && st.HTTPStatusCode() >= 500
}

// classify turns an SDK error of the call described by what into an error
// of this package, judged by behaviour:
//   - throttling, request timeouts and HTTP 5xx: retryable;
//   - LimitExceededException (a quota, such as the number of stacks):
//     terminal, ReasonRefused;
//   - InsufficientCapabilitiesException: terminal, ReasonInvalid (the
//     template needs a capability its plan does not grant);
//   - a ValidationError about the stack's state or its termination
//     protection: terminal, ReasonRefused; any other ValidationError
//     (template, parameters): terminal, ReasonInvalid;
//   - access denied (AccessDenied, AccessDeniedException,
//     UnauthorizedOperation): terminal, ReasonRefused, so that the
//     operation fails with AWS's message, which names the action the
//     broker's credentials lack, instead of being retried until it times
//     out (a missing permission is not granted by waiting);
//   - anything else (network errors, expired credentials, ctx ended):
//     left to provisioner.IsRetryable, which retries all but a cancelled
//     ctx.
//
// values are the parameter values the call sent; they are cut out of the
// message. The "does not exist" and "No updates" cases are for callers to
// handle before classifying.
func classify(err error, what string, values []string) error {
	if err == nil {
		return nil
	}
	detail := err.Error()
	if a, ok := apiError(err); ok {
		detail = a.ErrorCode() + ": " + a.ErrorMessage()
	}
	base := &callError{msg: redact("cloudformation: "+what+": "+detail, values), err: err}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return base
	}
	var capErr *types.InsufficientCapabilitiesException
	switch {
	case isQuota(err):
		return provisioner.Terminal(provisioner.ReasonRefused, base)
	case errors.As(err, &capErr):
		return provisioner.Terminal(provisioner.ReasonInvalid, base)
	case isTransient(err):
		return retryable(base)
	}
	if a, ok := apiError(err); ok {
		switch a.ErrorCode() {
		case codeValidation:
			m := a.ErrorMessage()
			if stateRE.MatchString(m) || strings.Contains(m, msgTermination) {
				return provisioner.Terminal(provisioner.ReasonRefused, base)
			}
			return provisioner.Terminal(provisioner.ReasonInvalid, base)
		case "TokenAlreadyExistsException":
			return provisioner.Terminal(provisioner.ReasonRefused, base)
		case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation":
			return provisioner.Terminal(provisioner.ReasonRefused, base)
		}
	}
	return base
}

// NewRetryer returns the SDK's standard retryer (3 attempts, exponential
// backoff with jitter, a retry-token bucket) except that it does not retry
// LimitExceededException. The SDK counts that code as throttling, but in
// CloudFormation it is a quota (stacks per account, stack sets, …) that
// retrying within seconds cannot lift: it should fail the operation
// at once with a clear reason, not after three attempts.
//
// Everything else it retries (throttling, 5xx) the provisioner.Tracker
// retries again later if the SDK gives up, so the retryer need not be
// patient.
func NewRetryer() aws.Retryer { return newRetryer() }

func newRetryer(fns ...func(*retry.StandardOptions)) aws.Retryer {
	return retry.NewStandard(append([]func(*retry.StandardOptions){func(o *retry.StandardOptions) {
		o.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(noQuotaRetry)}, o.Retryables...)
	}}, fns...)...)
}

func noQuotaRetry(err error) aws.Ternary {
	if isQuota(err) {
		return aws.FalseTernary
	}
	return aws.UnknownTernary
}

// rateLimitID is the ID of the rate-limit middleware.
const rateLimitID = "brokerkit.RateLimit"

// WithRateLimit returns a client option that makes every attempt of every
// call, retries included, wait for a token of l before it is sent. Share
// one limiter per AWS account and region: CloudFormation's rate limits are
// per account and region, so every client (and every [Stacks]) of that
// account and region must draw from the same limiter. A nil l changes
// nothing.
//
// The wait is a Finalize middleware placed after the SDK's retry
// middleware, so it runs once per attempt rather than once per call.
func WithRateLimit(l *rate.Limiter) func(*cfn.Options) {
	return func(o *cfn.Options) {
		if l == nil {
			return
		}
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			m := rateLimitMiddleware{l: l}
			if _, ok := st.Finalize.Get("Retry"); ok {
				return st.Finalize.Insert(m, "Retry", middleware.After)
			}
			return st.Finalize.Add(m, middleware.Before)
		})
	}
}

type rateLimitMiddleware struct{ l *rate.Limiter }

func (rateLimitMiddleware) ID() string { return rateLimitID }

func (m rateLimitMiddleware) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	if err := m.l.Wait(ctx); err != nil {
		return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("waiting for the CloudFormation rate limit: %w", err)
	}
	return next.HandleFinalize(ctx, in)
}

// NewClient returns a CloudFormation client for cfg with [NewRetryer] as
// its retryer (replacing cfg.Retryer) and, if l is not nil, every attempt
// limited by l (see [WithRateLimit]). optFns apply last.
func NewClient(cfg aws.Config, l *rate.Limiter, optFns ...func(*cfn.Options)) *cfn.Client {
	fns := append([]func(*cfn.Options){
		func(o *cfn.Options) { o.Retryer = NewRetryer() },
		WithRateLimit(l),
	}, optFns...)
	return cfn.NewFromConfig(cfg, fns...)
}
