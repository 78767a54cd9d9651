package broker

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/brokerkit/brokerkit/catalog"
)

// Meta is what every request carries besides its body: the headers the
// OSB API defines for all endpoints. It is embedded in each request type.
type Meta struct {
	// APIVersion is the X-Broker-API-Version the platform sent.
	APIVersion APIVersion
	// OriginatingIdentity is the user who triggered the request, or nil:
	// the header is optional and absent on catalog fetches and orphan
	// mitigation. A malformed header is treated as absent.
	OriginatingIdentity *OriginatingIdentity
	// RequestIdentity is X-Broker-API-Request-Identity, or "".
	RequestIdentity string
}

// Parameters are the user's configuration parameters from a request body,
// decoded with numbers kept exact as [json.Number]. They have already been
// validated against the plan's schema, if it has one.
//
// Parameter values may be secrets: String, GoString, Format and LogValue
// print only the parameter names, so a stray log line cannot leak them.
// JSON encoding is unaffected (backends need the values), so do not hand a
// whole request to a JSON log handler: log its fields.
type Parameters map[string]any

// String lists the parameter names, never their values.
func (p Parameters) String() string { return "Parameters" + redactedKeys(p) }

// GoString is String, so %#v cannot print values either.
func (p Parameters) GoString() string { return p.String() }

// Format prints String for every verb, so no verb (%d, %x, %+v) can
// print values.
func (p Parameters) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, p.String()) }

// LogValue implements [slog.LogValuer] with the names only.
func (p Parameters) LogValue() slog.Value { return slog.StringValue(redactedKeys(p)) }

// Credentials are what a binding hands to an application. Like
// [Parameters], they print only their keys; JSON encoding is unaffected.
type Credentials map[string]any

// String lists the credential keys, never their values.
func (c Credentials) String() string { return "Credentials" + redactedKeys(c) }

// GoString is String, so %#v cannot print values either.
func (c Credentials) GoString() string { return c.String() }

// Format prints String for every verb, so no verb can print values.
func (c Credentials) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue implements [slog.LogValuer] with the keys only.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(redactedKeys(c)) }

// Context is the platform's context object: opaque JSON whose "platform"
// field names the platform (see the profile's Context Object). Names and
// annotations in it may change over an instance's life: never use them as
// keys.
type Context map[string]any

// Platform returns the context's "platform" field, or "".
func (c Context) Platform() string {
	s, _ := c["platform"].(string)
	return s
}

// String returns the context's value of key, or "" if it is absent or
// not a string.
func (c Context) String(key string) string {
	s, _ := c[key].(string)
	return s
}

// The platform names the profile defines.
const (
	PlatformCloudFoundry = "cloudfoundry"
	PlatformKubernetes   = "kubernetes"
)

// Outcome says how a backend finished a request that creates, changes or
// removes something. The zero value is not an Outcome: a backend that
// returns it is answered with 500, so a forgotten field cannot turn into a
// wrong but plausible answer.
type Outcome uint8

const (
	// Done means the work finished during the request: 201 Created for a
	// provision or bind, 200 OK for an update, deprovision or unbind.
	Done Outcome = iota + 1
	// Accepted means the work goes on asynchronously: 202 Accepted. Only
	// allowed when the request's AcceptsIncomplete is true.
	Accepted
	// Existed means an identical instance or binding already existed and
	// nothing was done: 200 OK with the same body as Done. For an update
	// it means the request had no effect (200 OK).
	Existed
)

func (o Outcome) String() string {
	switch o {
	case Done:
		return "Done"
	case Accepted:
		return "Accepted"
	case Existed:
		return "Existed"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// ProvisionRequest is PUT /v2/service_instances/:instance_id.
type ProvisionRequest struct {
	Meta
	InstanceID string
	// Service and Plan are the catalog entries named by service_id and
	// plan_id; the handler has checked that the plan is the service's.
	// They point into the catalog Index: do not modify them.
	Service *catalog.Service
	Plan    *catalog.Plan
	// OrganizationGUID and SpaceGUID are deprecated but required by the
	// spec; both are non-empty.
	OrganizationGUID string
	SpaceGUID        string
	Context          Context
	// Parameters is nil when the request had none.
	Parameters Parameters
	// MaintenanceInfo is the platform's view of the plan's maintenance
	// version, or nil. The handler has checked it against the catalog.
	MaintenanceInfo *catalog.MaintenanceInfo
	// AcceptsIncomplete is true when the platform allows a 202.
	AcceptsIncomplete bool
}

// ProvisionResponse is a backend's answer to a provision.
type ProvisionResponse struct {
	Outcome Outcome
	// Operation is an opaque token the platform echoes when polling
	// last_operation; optional, at most 10,000 characters, and only
	// sent with Accepted.
	Operation string
	// DashboardURL must come in the first response, even an async one.
	DashboardURL string
	Metadata     *InstanceMetadata
}

// InstanceMetadata is the metadata object of an instance.
type InstanceMetadata struct {
	Labels     map[string]any `json:"labels,omitempty"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// UpdateRequest is PATCH /v2/service_instances/:instance_id.
//
// The handler knows the instance's current plan only from
// previous_values.plan_id. When the platform sends it, the handler has
// checked plan_updateable, the update schema and maintenance_info against
// the right plans. When it does not, the handler checks the new plan's
// update schema and maintenance_info if a plan_id is given, and nothing
// else: the backend, which knows the instance, checks the rest.
type UpdateRequest struct {
	Meta
	InstanceID string
	Service    *catalog.Service
	// Plan is the target plan, or nil when the request does not change
	// the plan.
	Plan *catalog.Plan
	// Parameters holds only what the user specified (a partial set), or
	// nil when the request changes no parameters.
	Parameters      Parameters
	Context         Context
	MaintenanceInfo *catalog.MaintenanceInfo
	PreviousValues  PreviousValues
	// AcceptsIncomplete is true when the platform allows a 202.
	AcceptsIncomplete bool
}

// PreviousValues is what the platform believes the instance was before
// an update. Every field may be empty.
type PreviousValues struct {
	PlanID          string
	ServiceID       string // deprecated
	OrganizationID  string // deprecated
	SpaceID         string // deprecated
	MaintenanceInfo *catalog.MaintenanceInfo
}

// UpdateResponse is a backend's answer to an update.
type UpdateResponse struct {
	Outcome      Outcome
	Operation    string
	DashboardURL string
	Metadata     *InstanceMetadata
}

// DeprovisionRequest is DELETE /v2/service_instances/:instance_id.
//
// A deprovision is how orphan mitigation arrives: it must succeed for
// instances that failed or were half-built, and answer [ErrInstanceNotFound]
// (410 Gone) for instances that do not exist.
type DeprovisionRequest struct {
	Meta
	InstanceID string
	// ServiceID and PlanID are always non-empty. Service and Plan are
	// their catalog entries, or nil when the catalog no longer has them:
	// an instance of a removed plan must still be deletable.
	ServiceID         string
	PlanID            string
	Service           *catalog.Service
	Plan              *catalog.Plan
	AcceptsIncomplete bool
}

// DeprovisionResponse is a backend's answer to a deprovision.
type DeprovisionResponse struct {
	Outcome   Outcome
	Operation string
}

// GetInstanceRequest is GET /v2/service_instances/:instance_id.
type GetInstanceRequest struct {
	Meta
	InstanceID string
	// ServiceID and PlanID are optional hints.
	ServiceID string
	PlanID    string
}

// Instance is a backend's answer to GET /v2/service_instances/:instance_id.
// Return [ErrInstanceNotFound] while the instance is still being
// provisioned, and [ErrConcurrency] while it is being updated or deleted.
type Instance struct {
	ServiceID    string
	PlanID       string
	DashboardURL string
	// Parameters may leave out sensitive values.
	Parameters      Parameters
	MaintenanceInfo *catalog.MaintenanceInfo
	Metadata        *InstanceMetadata
}

// LastOperationRequest is GET /v2/service_instances/:instance_id/last_operation.
type LastOperationRequest struct {
	Meta
	InstanceID string
	// ServiceID and PlanID are optional hints; during a plan change
	// PlanID is the old plan.
	ServiceID string
	PlanID    string
	// Operation is the token the backend returned, or "" when the
	// platform sent none. Treat an unknown token as "the latest".
	Operation string
}

// State is the state of an asynchronous operation.
type State string

// The three states the OSB API defines.
const (
	InProgress State = "in progress"
	Succeeded  State = "succeeded"
	Failed     State = "failed"
)

// LastOperation is a backend's answer to a last_operation poll.
type LastOperation struct {
	State State
	// Description is shown to the user; keep it free of secrets.
	Description string
	// InstanceUsable and UpdateRepeatable are sent only for a failed
	// update or deprovision (UpdateRepeatable only for an update) of an
	// instance; nil leaves them out. The handler drops them on bindings
	// and on other states.
	InstanceUsable   *bool
	UpdateRepeatable *bool
	// RetryAfter, when positive, is sent as a Retry-After header in whole
	// seconds (rounded up): when the platform should poll again.
	RetryAfter time.Duration
}

// BindRequest is PUT /v2/service_instances/:instance_id/service_bindings/:binding_id.
type BindRequest struct {
	Meta
	InstanceID string
	BindingID  string
	// Service and Plan are checked catalog entries, as for a provision;
	// the plan is bindable.
	Service *catalog.Service
	Plan    *catalog.Plan
	// AppGUID is the deprecated top-level app_guid, or bind_resource's.
	AppGUID      string
	BindResource BindResource
	Context      Context
	Parameters   Parameters
	// PredecessorBindingID is set for a rotation; the handler has checked
	// that the plan is binding_rotatable.
	PredecessorBindingID string
	AcceptsIncomplete    bool
}

// BindResource is the bind_resource object: what the binding is for. Its
// fields are platform-specific (Cloud Foundry adds space_guid and
// credential_client_id, for example).
type BindResource map[string]any

// AppGUID returns the app_guid field, or "".
func (b BindResource) AppGUID() string { s, _ := b["app_guid"].(string); return s }

// Route returns the route field, or "".
func (b BindResource) Route() string { s, _ := b["route"].(string); return s }

// BindResponse is a backend's answer to a bind. With Accepted only
// Operation may be set: credentials are then delivered by GET binding.
type BindResponse struct {
	Outcome   Outcome
	Operation string
	Binding
}

// Binding is what a binding delivers to an application.
type Binding struct {
	Credentials Credentials
	Metadata    *BindingMetadata
	// SyslogDrainURL, RouteServiceURL and VolumeMounts need the
	// service's matching Requires entry.
	SyslogDrainURL  string
	RouteServiceURL string
	VolumeMounts    []VolumeMount
	Endpoints       []Endpoint
	// Parameters is sent only by GET binding; sensitive values may be left
	// out.
	Parameters Parameters
}

// BindingMetadata tells when a binding's credentials expire.
type BindingMetadata struct {
	// ExpiresAt and RenewBefore are sent as yyyy-mm-ddThh:mm:ss.sZ in
	// UTC; zero leaves them out. RenewBefore must not be after ExpiresAt.
	ExpiresAt   time.Time
	RenewBefore time.Time
}

// Endpoint is a network endpoint an application may need to reach.
type Endpoint struct {
	Host string `json:"host"`
	// Ports are single ports ("443") or ranges ("9000-9010"); at least one.
	Ports []string `json:"ports"`
	// Protocol is "tcp" (the default when empty), "udp" or "all".
	Protocol string `json:"protocol,omitempty"`
}

// VolumeMount is a volume an application should mount.
type VolumeMount struct {
	Driver       string       `json:"driver"`
	ContainerDir string       `json:"container_dir"`
	Mode         string       `json:"mode"`
	DeviceType   string       `json:"device_type"`
	Device       VolumeDevice `json:"device"`
}

// VolumeDevice identifies the device of a [VolumeMount].
type VolumeDevice struct {
	VolumeID    string         `json:"volume_id"`
	MountConfig map[string]any `json:"mount_config,omitempty"`
}

// UnbindRequest is DELETE /v2/service_instances/:instance_id/service_bindings/:binding_id.
type UnbindRequest struct {
	Meta
	InstanceID string
	BindingID  string
	// ServiceID and PlanID are always non-empty; Service and Plan are nil
	// when the catalog no longer has them.
	ServiceID         string
	PlanID            string
	Service           *catalog.Service
	Plan              *catalog.Plan
	AcceptsIncomplete bool
}

// UnbindResponse is a backend's answer to an unbind.
type UnbindResponse struct {
	Outcome   Outcome
	Operation string
}

// GetBindingRequest is GET /v2/service_instances/:instance_id/service_bindings/:binding_id.
type GetBindingRequest struct {
	Meta
	InstanceID string
	BindingID  string
	ServiceID  string
	PlanID     string
}

// BindingLastOperationRequest is GET …/service_bindings/:binding_id/last_operation.
type BindingLastOperationRequest struct {
	Meta
	InstanceID string
	BindingID  string
	ServiceID  string
	PlanID     string
	Operation  string
}

// APIVersion is an X-Broker-API-Version value.
type APIVersion struct {
	Major, Minor int
}

// String formats v as MAJOR.MINOR.
func (v APIVersion) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Less reports whether v is older than w.
func (v APIVersion) Less(w APIVersion) bool {
	return v.Major < w.Major || v.Major == w.Major && v.Minor < w.Minor
}

// Version is the OSB API version this package implements.
var Version = APIVersion{2, 17}

// osbTime formats t as the spec's yyyy-mm-ddThh:mm:ss.sZ.
func osbTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.0Z")
}

func redactedKeys[M ~map[string]any](m M) string {
	if m == nil {
		return "{}"
	}
	keys := slices.Sorted(maps.Keys(m))
	b := []byte{'{'}
	for i, k := range keys {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, k...)
		b = append(b, ":[redacted]"...)
	}
	return string(append(b, '}'))
}
