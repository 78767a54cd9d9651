package catalog

import (
	"slices"
	"time"
)

// Catalog is the body of GET /v2/catalog: the Service Offerings a broker
// sells. Its JSON form is exactly the one the OSB API v2.17 names.
//
// A Catalog is a plain value: build it as a literal, load it, then call
// [Catalog.Validate] or [NewIndex] before serving it.
type Catalog struct {
	// Services MAY be empty, but the field is always sent.
	Services []Service `json:"services"`
}

// Service is a Service Offering.
type Service struct {
	// ID correlates this offering in later requests. It MUST be globally
	// unique and MUST NOT change between catalog fetches; a GUID derived
	// from configuration is recommended.
	ID string `json:"id"`
	// Name is unique across offerings and CLI-friendly (letters, digits,
	// periods and hyphens).
	Name string `json:"name"`
	// Description is a short, non-empty description of the offering.
	Description string `json:"description"`
	// Tags classify the offering (for example "mysql", "caching") so that
	// equivalent offerings can be swapped.
	Tags []string `json:"tags,omitempty"`
	// Requires lists the permissions an instance needs: any of
	// [RequiresSyslogDrain], [RequiresRouteForwarding], [RequiresVolumeMount].
	Requires []string `json:"requires,omitempty"`
	// Bindable is the default for every plan; a plan's own Bindable wins.
	Bindable bool `json:"bindable"`
	// InstancesRetrievable promises that GET of an instance works for
	// every plan of this offering.
	InstancesRetrievable bool `json:"instances_retrievable,omitempty"`
	// BindingsRetrievable promises that GET of a binding works for every
	// bindable plan. Asynchronous binding requires it.
	BindingsRetrievable bool `json:"bindings_retrievable,omitempty"`
	// AllowContextUpdates lets the platform send context-only updates.
	AllowContextUpdates bool `json:"allow_context_updates,omitempty"`
	// Metadata is opaque to platforms; see the profile's conventions
	// (displayName, imageUrl, longDescription, providerDisplayName,
	// documentationUrl, supportUrl).
	Metadata map[string]any `json:"metadata,omitempty"`
	// DashboardClient activates Cloud Foundry's dashboard single sign-on.
	DashboardClient *DashboardClient `json:"dashboard_client,omitempty"`
	// PlanUpdateable is the default for every plan (the spelling is the
	// spec's). A plan's own PlanUpdateable wins.
	PlanUpdateable bool `json:"plan_updateable,omitempty"`
	// Plans are the offering's plans; there is at least one.
	Plans []Plan `json:"plans"`
	// Credentials says how the credentials of the offering's bindings are
	// built. It is brokerkit's own, not the OSB API's, and never sent to
	// a platform. Nil keeps output names as they are.
	Credentials *CredentialsSpec `json:"-"`
}

// CredentialsSpec says how a service's binding credentials are built
// from the outputs of its instance (and of the binding's own resources);
// package binding applies it (binding.OptionsFor).
type CredentialsSpec struct {
	// Mapping is how output names become credential keys: [MappingAsIs]
	// (or ""), [MappingScreamingSnake] (the AWS Service Broker's
	// QUEUE_URL) or [MappingServiceBinding] (servicebinding.io names).
	Mapping string `json:"mapping,omitempty" yaml:"Mapping"`
	// Type and Provider are the servicebinding.io "type" and "provider"
	// entries of the binding's Secret ("sqs", "aws"); the Secret's type
	// is servicebinding.io/<Type>.
	Type     string `json:"type,omitempty" yaml:"Type"`
	Provider string `json:"provider,omitempty" yaml:"Provider"`
	// Transforms change the keys after the mapping, in order.
	Transforms []KeyTransform `json:"transforms,omitempty" yaml:"Transforms"`
	// Lifetime, when positive, is how long a binding's credentials are
	// valid after the binding was created: the binding's expires_at.
	Lifetime Duration `json:"lifetime,omitempty" yaml:"Lifetime"`
}

// The mappings of [CredentialsSpec].
const (
	MappingAsIs           = "as-is"
	MappingScreamingSnake = "screaming-snake"
	MappingServiceBinding = "servicebinding"
)

// KeyTransform is one declarative change of the credential keys, in the
// spirit of Kubernetes Service Catalog's secret transforms. Op is one of:
//
//   - "rename": the key Key becomes To;
//   - "add": Key is added (or replaced) with Value, or with the output of
//     the Go text/template Template over the other keys, e.g.
//     "amqps://{{.username}}:{{.password}}@{{.host}}:{{.port}}";
//     keys that are not Go identifiers, such as the servicebinding
//     mapping's queue-url, are reached with index: {{index . "queue-url"}};
//   - "remove": Key is dropped.
//
// [Catalog.Validate] checks that each operation has the fields it needs
// and no others.
type KeyTransform struct {
	Op       string `json:"op" yaml:"Op"`
	Key      string `json:"key" yaml:"Key"`
	To       string `json:"to,omitempty" yaml:"To"`
	Value    string `json:"value,omitempty" yaml:"Value"`
	Template string `json:"template,omitempty" yaml:"Template"`
}

// The operations of a [KeyTransform].
const (
	OpRename = "rename"
	OpAdd    = "add"
	OpRemove = "remove"
)

// Duration is a time.Duration written as Go writes durations ("720h")
// in JSON and YAML.
type Duration time.Duration

// The permissions a Service may require.
const (
	RequiresSyslogDrain     = "syslog_drain"
	RequiresRouteForwarding = "route_forwarding"
	RequiresVolumeMount     = "volume_mount"
)

// Plan is a Service Plan.
type Plan struct {
	// ID is globally unique and stable, like a Service's.
	ID string `json:"id"`
	// Name is unique within the offering and CLI-friendly.
	Name string `json:"name"`
	// Description is a short, non-empty description of the plan.
	Description string `json:"description"`
	// Metadata is opaque to platforms; see the profile's conventions
	// (bullets, costs, displayName).
	Metadata map[string]any `json:"metadata,omitempty"`
	// Free is true when nil.
	Free *bool `json:"free,omitempty"`
	// Bindable overrides the offering's Bindable when not nil.
	Bindable *bool `json:"bindable,omitempty"`
	// BindingRotatable allows binding rotation (predecessor_binding_id).
	BindingRotatable bool `json:"binding_rotatable,omitempty"`
	// PlanUpdateable overrides the offering's PlanUpdateable when not nil.
	PlanUpdateable *bool `json:"plan_updateable,omitempty"`
	// Schemas describe the parameters of provision, update and bind.
	Schemas *Schemas `json:"schemas,omitempty"`
	// MaximumPollingDuration is in seconds; zero means unset.
	MaximumPollingDuration int `json:"maximum_polling_duration,omitempty"`
	// MaintenanceInfo, if set, is the maintenance version of the plan.
	MaintenanceInfo *MaintenanceInfo `json:"maintenance_info,omitempty"`
}

// Schemas holds the JSON Schemas of a plan's input parameters.
type Schemas struct {
	// ServiceInstance holds the provision and update schemas.
	ServiceInstance *ServiceInstanceSchemas `json:"service_instance,omitempty"`
	// ServiceBinding holds the bind schema; only a bindable plan has one.
	ServiceBinding *ServiceBindingSchemas `json:"service_binding,omitempty"`
}

// ServiceInstanceSchemas are the schemas for provisioning and updating.
type ServiceInstanceSchemas struct {
	// Create is the schema of the parameters of a provision request.
	Create *InputParameters `json:"create,omitempty"`
	// Update is the schema of the parameters of an update request.
	Update *InputParameters `json:"update,omitempty"`
}

// ServiceBindingSchemas are the schemas for binding.
type ServiceBindingSchemas struct {
	// Create is the schema of the parameters of a bind request.
	Create *InputParameters `json:"create,omitempty"`
}

// InputParameters wraps one JSON Schema.
type InputParameters struct {
	// Parameters is a JSON Schema object. It MUST carry "$schema", MUST
	// NOT refer to external documents and MUST NOT exceed 64 kB. Drafts 4,
	// 6, 7, 2019-09 and 2020-12 are understood.
	Parameters Schema `json:"parameters,omitempty"`
}

// Schema is a JSON Schema document in its decoded form.
type Schema map[string]any

// MaintenanceInfo tells platforms which maintenance version a plan runs.
type MaintenanceInfo struct {
	// Version is a semantic version 2.0 string. Only it is compared.
	Version string `json:"version"`
	// Description states the impact of moving to this version.
	Description string `json:"description,omitempty"`
}

// DashboardClient is the Cloud Foundry dashboard single sign-on extension.
type DashboardClient struct {
	// ID is the OAuth2 client id.
	ID string `json:"id"`
	// Secret is the OAuth2 client secret. It is sent in the catalog but
	// hidden by String, GoString and LogValue.
	Secret string `json:"secret"`
	// RedirectURI is the domain the dashboard is served from.
	RedirectURI string `json:"redirect_uri,omitempty"`
}

// IsBindable reports whether instances of plan p of s can be bound: the
// plan's own Bindable if set, else the offering's.
func (s *Service) IsBindable(p *Plan) bool {
	if p != nil && p.Bindable != nil {
		return *p.Bindable
	}
	return s.Bindable
}

// IsPlanUpdateable reports whether instances of plan p may change plan:
// the plan's own PlanUpdateable if set, else the offering's.
func (s *Service) IsPlanUpdateable(p *Plan) bool {
	if p != nil && p.PlanUpdateable != nil {
		return *p.PlanUpdateable
	}
	return s.PlanUpdateable
}

// IsFree reports the plan's Free field with its default, true.
func (p *Plan) IsFree() bool { return p.Free == nil || *p.Free }

// InstanceCreateSchema returns the provision parameter schema, or nil.
func (p *Plan) InstanceCreateSchema() Schema {
	if p.Schemas == nil || p.Schemas.ServiceInstance == nil || p.Schemas.ServiceInstance.Create == nil {
		return nil
	}
	return p.Schemas.ServiceInstance.Create.Parameters
}

// InstanceUpdateSchema returns the update parameter schema, or nil.
func (p *Plan) InstanceUpdateSchema() Schema {
	if p.Schemas == nil || p.Schemas.ServiceInstance == nil || p.Schemas.ServiceInstance.Update == nil {
		return nil
	}
	return p.Schemas.ServiceInstance.Update.Parameters
}

// BindingCreateSchema returns the bind parameter schema, or nil.
func (p *Plan) BindingCreateSchema() Schema {
	if p.Schemas == nil || p.Schemas.ServiceBinding == nil || p.Schemas.ServiceBinding.Create == nil {
		return nil
	}
	return p.Schemas.ServiceBinding.Create.Parameters
}

// Bool returns a pointer to b, for the catalog's optional booleans.
func Bool(b bool) *bool { return &b }

// SecretParameters returns the names of the plan's secret parameters: the
// top-level properties of its instance create or update schema marked
// "writeOnly": true (the JSON Schema annotation for values that are
// written but never read back; the template loader marks NoEcho
// CloudFormation parameters so). Their values are never stored in plain
// text nor returned by a fetch. The result is sorted and has no
// duplicates.
func (p *Plan) SecretParameters() []string {
	var names []string
	for _, s := range []Schema{p.InstanceCreateSchema(), p.InstanceUpdateSchema()} {
		props, _ := s["properties"].(map[string]any)
		for name, v := range props {
			if prop, ok := v.(map[string]any); ok && prop["writeOnly"] == true {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}
