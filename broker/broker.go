package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/brokerkit/brokerkit/catalog"
)

// ServiceBroker is what a broker author implements for instances. Every
// method is called only after the handler has authenticated the request,
// checked the API version, decoded and checked the body against the
// catalog (service, plan, maintenance_info, parameter schema,
// plan_updateable, accepts_incomplete where [Options.RequireAsync] says
// so). An update is the exception where the handler cannot know the
// instance's plan: see [UpdateRequest]. Methods return typed answers or an error; see [Error] for how
// errors become responses. Methods may be called concurrently, also for
// the same instance: a backend rejects what it cannot do at the same time
// with [ErrConcurrency].
type ServiceBroker interface {
	Provision(ctx context.Context, req *ProvisionRequest) (ProvisionResponse, error)
	Update(ctx context.Context, req *UpdateRequest) (UpdateResponse, error)
	Deprovision(ctx context.Context, req *DeprovisionRequest) (DeprovisionResponse, error)
	LastOperation(ctx context.Context, req *LastOperationRequest) (LastOperation, error)
}

// Binder is implemented by backends whose catalog has bindable plans.
// [New] fails if the catalog has one and the backend is not a Binder.
type Binder interface {
	Bind(ctx context.Context, req *BindRequest) (BindResponse, error)
	Unbind(ctx context.Context, req *UnbindRequest) (UnbindResponse, error)
	BindingLastOperation(ctx context.Context, req *BindingLastOperationRequest) (LastOperation, error)
}

// InstanceGetter is implemented by backends whose catalog has a service
// with instances_retrievable. [New] fails if one does and the backend is
// not an InstanceGetter.
type InstanceGetter interface {
	GetInstance(ctx context.Context, req *GetInstanceRequest) (Instance, error)
}

// BindingGetter is implemented by backends whose catalog has a service
// with bindings_retrievable. [New] fails if one does and the backend is
// not a BindingGetter.
type BindingGetter interface {
	GetBinding(ctx context.Context, req *GetBindingRequest) (Binding, error)
}

// Action names an operation, as a bit so that several form a set.
type Action uint8

// The actions of [Options.RequireAsync].
const (
	ActionProvision Action = 1 << iota
	ActionUpdate
	ActionDeprovision
	ActionBind
	ActionUnbind
)

// Options configure a [Handler]. The zero value is not usable on its own:
// an Authenticator is required, or Unauthenticated must say that none is
// wanted.
type Options struct {
	// Authenticator checks every request; see [BasicAuth].
	Authenticator Authenticator
	// Unauthenticated must be true to serve without an Authenticator, for
	// tests or a broker behind an authenticating proxy.
	Unauthenticated bool
	// Logger receives one line per request (at Debug, or Error for a 5xx)
	// with the route, status, duration, request identity and originating
	// user. Parameters and credentials are never logged. Nil discards.
	Logger *slog.Logger
	// MissingVersionStatus is the status for a request without
	// X-Broker-API-Version: 412 (the default, which existing conformance
	// suites expect) or 400 (which the spec also allows).
	MissingVersionStatus int
	// MinAPIVersion is the oldest X-Broker-API-Version accepted; the
	// default is 2.0. Any other major version than 2 is always refused
	// with 412.
	MinAPIVersion APIVersion
	// RequireAsync lists the actions this backend always performs
	// asynchronously: the handler answers 422 AsyncRequired to those
	// requests when accepts_incomplete is not true, without calling the
	// backend. A CloudFormation backend sets ActionProvision |
	// ActionUpdate | ActionDeprovision.
	RequireAsync Action
	// MaxBodyBytes limits request bodies; larger ones get 400. The default
	// is 1 MiB.
	MaxBodyBytes int64
}

// Handler serves the OSB API v2.17 for one catalog and one backend. It is
// an [http.Handler], safe for concurrent use, and holds no per-request
// state. Build it with [New].
type Handler struct {
	opts        Options
	index       *catalog.Index
	backend     ServiceBroker
	binder      Binder
	getInstance InstanceGetter
	getBinding  BindingGetter
	log         *slog.Logger
	catalogBody []byte
	mux         *http.ServeMux
	notFound    *route
}

// ErrNoAuthenticator is returned by [New] when Options has neither an
// Authenticator nor Unauthenticated set.
var ErrNoAuthenticator = errors.New("broker: no Authenticator configured; set Options.Unauthenticated to serve without one")

// New returns a Handler serving idx through backend. It copies opts, then
// applies optFns to the copy. It fails, naming the reason, when the
// backend lacks an interface the catalog needs ([Binder], [InstanceGetter],
// [BindingGetter]) or an option is invalid, so a broker fails at start and
// not on a platform's first request.
func New(idx *catalog.Index, backend ServiceBroker, opts Options, optFns ...func(*Options)) (*Handler, error) {
	for _, fn := range optFns {
		fn(&opts)
	}
	if idx == nil || backend == nil {
		return nil, errors.New("broker: New needs a catalog index and a backend")
	}
	if opts.Authenticator == nil && !opts.Unauthenticated {
		return nil, ErrNoAuthenticator
	}
	switch opts.MissingVersionStatus {
	case 0:
		opts.MissingVersionStatus = http.StatusPreconditionFailed
	case http.StatusPreconditionFailed, http.StatusBadRequest:
	default:
		return nil, fmt.Errorf("broker: MissingVersionStatus must be 412 or 400, not %d", opts.MissingVersionStatus)
	}
	if opts.MinAPIVersion == (APIVersion{}) {
		opts.MinAPIVersion = APIVersion{2, 0}
	}
	if opts.MinAPIVersion.Major != 2 || Version.Less(opts.MinAPIVersion) {
		return nil, fmt.Errorf("broker: MinAPIVersion %s is outside 2.0 to %s", opts.MinAPIVersion, Version)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	h := &Handler{opts: opts, index: idx, backend: backend, log: opts.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.binder, _ = backend.(Binder)
	h.getInstance, _ = backend.(InstanceGetter)
	h.getBinding, _ = backend.(BindingGetter)
	for i := range idx.Catalog().Services {
		s := &idx.Catalog().Services[i]
		if h.binder == nil && anyBindable(s) {
			return nil, fmt.Errorf("broker: service %q has bindable plans but the backend does not implement broker.Binder", s.Name)
		}
		if h.getInstance == nil && s.InstancesRetrievable {
			return nil, fmt.Errorf("broker: service %q is instances_retrievable but the backend does not implement broker.InstanceGetter", s.Name)
		}
		if h.getBinding == nil && s.BindingsRetrievable {
			return nil, fmt.Errorf("broker: service %q is bindings_retrievable but the backend does not implement broker.BindingGetter", s.Name)
		}
	}
	body, err := json.Marshal(idx.Catalog())
	if err != nil {
		return nil, fmt.Errorf("broker: encoding the catalog: %w", err)
	}
	h.catalogBody = body
	h.routes()
	return h, nil
}

func anyBindable(s *catalog.Service) bool {
	for i := range s.Plans {
		if s.IsBindable(&s.Plans[i]) {
			return true
		}
	}
	return false
}
