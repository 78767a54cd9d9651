package cloudformation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"

	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"

	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/credentials"
	"github.com/brokerkit/brokerkit/provisioner"
)

// API is the part of the CloudFormation client that [Stacks] uses.
// *cloudformation.Client (of the SDK) implements it; tests can fake it.
type API interface {
	CreateStack(ctx context.Context, in *cfn.CreateStackInput, optFns ...func(*cfn.Options)) (*cfn.CreateStackOutput, error)
	UpdateStack(ctx context.Context, in *cfn.UpdateStackInput, optFns ...func(*cfn.Options)) (*cfn.UpdateStackOutput, error)
	DeleteStack(ctx context.Context, in *cfn.DeleteStackInput, optFns ...func(*cfn.Options)) (*cfn.DeleteStackOutput, error)
	DescribeStacks(ctx context.Context, in *cfn.DescribeStacksInput, optFns ...func(*cfn.Options)) (*cfn.DescribeStacksOutput, error)
	DescribeStackEvents(ctx context.Context, in *cfn.DescribeStackEventsInput, optFns ...func(*cfn.Options)) (*cfn.DescribeStackEventsOutput, error)
}

var _ API = (*cfn.Client)(nil)

// Template is the CloudFormation template of a plan.
type Template struct {
	// ID identifies the body, stably: it is stored in the stack's
	// brokerkit:template-id tag. Empty means "sha256:" and the hex SHA-256
	// of Body.
	ID string
	// Body is the template, JSON or YAML.
	Body string
	// Parameters are the parameters the template declares. Only these
	// (and FixedParameters) are sent to CloudFormation; a user parameter
	// that is not declared is an invalid request.
	Parameters map[string]ParameterSpec
	// FixedParameters are values the plan sets. They win over the user's
	// values, which are ignored for these keys.
	FixedParameters map[string]string
	// DefaultParameters are the plan's defaults: sent at create for the
	// declared parameters the user gave no value, in place of the
	// template's own Default.
	DefaultParameters map[string]string
	// Capabilities to acknowledge, e.g. "CAPABILITY_IAM".
	Capabilities []string
}

// ParameterSpec describes one declared template parameter.
type ParameterSpec struct {
	// Type is the CloudFormation type: "String" (also when empty),
	// "Number", "CommaDelimitedList", "List<Number>",
	// "AWS::EC2::Subnet::Id", "List<AWS::EC2::Subnet::Id>" and so on. A
	// JSON array is accepted only for list types (CommaDelimitedList and
	// List<…>).
	Type string
	// NoEcho marks a secret: its value is cut out of failure
	// descriptions too (error strings never hold any parameter value).
	NoEcho bool
}

// TemplateSource gives the current template of a plan.
type TemplateSource interface {
	// Template returns the template of plan planID of service serviceID.
	// An error that should not be retried (an unknown plan) is a
	// [provisioner.Terminal] error.
	Template(ctx context.Context, serviceID, planID string) (Template, error)
}

// TemplateSourceFunc adapts a function to a [TemplateSource].
type TemplateSourceFunc func(ctx context.Context, serviceID, planID string) (Template, error)

// Template calls f.
func (f TemplateSourceFunc) Template(ctx context.Context, serviceID, planID string) (Template, error) {
	return f(ctx, serviceID, planID)
}

// StaticTemplates is a [TemplateSource] holding a template per plan ID
// (plan IDs are unique across a catalog).
type StaticTemplates map[string]Template

// ErrNoTemplate is returned (wrapped, as a terminal invalid error) by
// [StaticTemplates] for a plan it does not hold.
var ErrNoTemplate = errors.New("cloudformation: no template for the plan")

// Template returns the template of planID, or a terminal error wrapping
// [ErrNoTemplate].
func (m StaticTemplates) Template(_ context.Context, _, planID string) (Template, error) {
	t, ok := m[planID]
	if !ok {
		return Template{}, provisioner.Terminal(provisioner.ReasonInvalid, fmt.Errorf("%w %q", ErrNoTemplate, planID))
	}
	return t, nil
}

// Options configure [Stacks].
type Options struct {
	// Client calls CloudFormation for instances whose Target is zero
	// (the broker's own account). [NewClient] builds one with the retryer
	// and rate limit this package recommends. Client or Clients is
	// required.
	Client API
	// Clients returns the client for an instance's non-zero Target (see
	// provisioner.Instance.Target): the account, role and region its
	// stack lives in. It is called on every operation, so it must cache
	// (credentials.Clients does: pass its For method). Nil refuses
	// instances with a non-zero Target; when Client is nil, Clients
	// serves zero Targets too.
	Clients func(ctx context.Context, t credentials.Target) (API, error)
	// Catalog gives the service names used in stack names; required.
	Catalog *catalog.Index
	// Templates gives each plan's template; required.
	Templates TemplateSource
	// StackPrefix starts every stack name: a letter, then letters, digits
	// and hyphens, at most 32 characters. Default "brokerkit".
	StackPrefix string
	// BrokerID is the value of every stack's brokerkit:broker-id tag;
	// empty leaves the tag out.
	BrokerID string
	// RoleARN is the CloudFormation service role used for stack
	// operations; empty uses the caller's credentials.
	RoleARN string
	// TerminationProtection enables termination protection on created
	// stacks; deprovisioning such a stack is refused.
	TerminationProtection bool
	// TimeoutInMinutes bounds stack creation; 0 means no timeout.
	TimeoutInMinutes int32
	// RetainResourcesOnDeleteFailure makes a delete of a stack in
	// DELETE_FAILED retain the resources that failed to delete, so that
	// the stack itself goes away; otherwise the delete is simply retried.
	RetainResourcesOnDeleteFailure bool
	// Logger receives a record per started operation and per failure; it
	// never holds a parameter value. Nil discards.
	Logger *slog.Logger
	// BatchMin is the number of observations from which ObserveBatch
	// lists all stacks with one paged DescribeStacks instead of one call
	// per stack. Zero means 20; negative never lists.
	BatchMin int
}

var prefixRE = regexp.MustCompile(`^[A-Za-z][-A-Za-z0-9]{0,31}$`)

// Stacks keeps each service instance in one CloudFormation stack. It is a
// [provisioner.Provisioner] and a [provisioner.BatchObserver]. It is safe
// for concurrent use.
type Stacks struct {
	opts Options
	log  *slog.Logger
}

var (
	_ provisioner.Provisioner   = (*Stacks)(nil)
	_ provisioner.BatchObserver = (*Stacks)(nil)
)

// New returns Stacks configured by a copy of opts changed by optFns, or an
// error naming every missing or invalid option.
func New(opts Options, optFns ...func(*Options)) (*Stacks, error) {
	for _, fn := range optFns {
		fn(&opts)
	}
	if opts.StackPrefix == "" {
		opts.StackPrefix = defaultPrefix
	}
	if opts.BatchMin == 0 {
		opts.BatchMin = 20
	}
	var errs []error
	if opts.Client == nil && opts.Clients == nil {
		errs = append(errs, errors.New("cloudformation: Options.Client or Options.Clients is required"))
	}
	if opts.Catalog == nil {
		errs = append(errs, errors.New("cloudformation: Options.Catalog is required"))
	}
	if opts.Templates == nil {
		errs = append(errs, errors.New("cloudformation: Options.Templates is required"))
	}
	if !prefixRE.MatchString(opts.StackPrefix) {
		errs = append(errs, fmt.Errorf("cloudformation: Options.StackPrefix %q must be a letter then at most 31 letters, digits or hyphens", opts.StackPrefix))
	}
	if opts.TimeoutInMinutes < 0 {
		errs = append(errs, errors.New("cloudformation: Options.TimeoutInMinutes must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Stacks{opts: opts, log: log}, nil
}

// client returns the CloudFormation client for t.
func (s *Stacks) client(ctx context.Context, t credentials.Target) (API, error) {
	if t == (credentials.Target{}) && s.opts.Client != nil {
		return s.opts.Client, nil
	}
	if s.opts.Clients == nil {
		return nil, provisioner.Terminal(provisioner.ReasonInvalid, fmt.Errorf("cloudformation: no client for target %v (Options.Clients is nil)", t))
	}
	c, err := s.opts.Clients(ctx, t)
	if errors.Is(err, credentials.ErrInvalidTarget) {
		return nil, provisioner.Terminal(provisioner.ReasonInvalid, err)
	}
	return c, err
}

// StackName returns the name of inst's stack (see the package function
// [StackName]), or a terminal error if the catalog has no service
// inst.ServiceID.
func (s *Stacks) StackName(inst *provisioner.Instance) (string, error) {
	svc, ok := s.opts.Catalog.Service(inst.ServiceID)
	if !ok {
		return "", provisioner.Terminal(provisioner.ReasonInvalid, fmt.Errorf("cloudformation: unknown service %q", inst.ServiceID))
	}
	return StackName(s.opts.StackPrefix, svc.Name, inst.ID), nil
}

// template returns the template of a plan with its ID filled in.
func (s *Stacks) template(ctx context.Context, serviceID, planID string) (Template, error) {
	t, err := s.opts.Templates.Template(ctx, serviceID, planID)
	if err != nil {
		return Template{}, fmt.Errorf("cloudformation: template of plan %q: %w", planID, err)
	}
	if t.ID == "" {
		t.ID = TemplateID(t.Body)
	}
	return t, nil
}

// TemplateID returns the identity of a template body that has no ID of its
// own: "sha256:" and the hex SHA-256 of body.
func TemplateID(body string) string {
	sum := sha256.Sum256([]byte(body))
	return "sha256:" + hex.EncodeToString(sum[:])
}
