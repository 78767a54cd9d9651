package catalog_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/catalog"
)

// baseCatalog is a small valid catalog that the Validate cases change:
// a bindable offering with two plans and a non-bindable one with one.
func baseCatalog() catalog.Catalog {
	return catalog.Catalog{Services: []catalog.Service{
		{
			ID: "svc-1", Name: "sqs", Description: "Queues", Bindable: true,
			Plans: []catalog.Plan{
				{ID: "plan-1", Name: "standard", Description: "Standard queue"},
				{ID: "plan-2", Name: "fifo", Description: "FIFO queue"},
			},
		},
		{
			ID: "svc-2", Name: "sns", Description: "Topics",
			Plans: []catalog.Plan{
				{ID: "plan-3", Name: "standard", Description: "Standard topic"},
			},
		},
	}}
}

// withSchema sets one schema of plan p.
func withSchema(p *catalog.Plan, k catalog.SchemaKind, s catalog.Schema) {
	if p.Schemas == nil {
		p.Schemas = &catalog.Schemas{}
	}
	in := &catalog.InputParameters{Parameters: s}
	switch k {
	case catalog.InstanceCreate, catalog.InstanceUpdate:
		if p.Schemas.ServiceInstance == nil {
			p.Schemas.ServiceInstance = &catalog.ServiceInstanceSchemas{}
		}
		if k == catalog.InstanceCreate {
			p.Schemas.ServiceInstance.Create = in
		} else {
			p.Schemas.ServiceInstance.Update = in
		}
	case catalog.BindingCreate:
		if p.Schemas.ServiceBinding == nil {
			p.Schemas.ServiceBinding = &catalog.ServiceBindingSchemas{}
		}
		p.Schemas.ServiceBinding.Create = in
	}
}

const (
	draft04 = "http://json-schema.org/draft-04/schema#"
	draft07 = "http://json-schema.org/draft-07/schema#"
	draft20 = "https://json-schema.org/draft/2020-12/schema"

	sqs       = `services[0] ("sqs")`
	sqsStd    = `services[0] ("sqs").plans[0] ("standard")`
	sqsFifo   = `services[0] ("sqs").plans[1] ("fifo")`
	sns       = `services[1] ("sns")`
	snsStd    = `services[1] ("sns").plans[0] ("standard")`
	createSch = sqsStd + ".schemas.service_instance.create.parameters"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	big := catalog.Schema{"$schema": draft07, "description": strings.Repeat("x", 70*1024)}
	bigJSON, err := json.Marshal(big)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		reason string
		change func(c *catalog.Catalog)
		want   []*catalog.ValidationError
	}{
		{
			name:   "valid",
			reason: "the base catalog is valid, including the same plan name in two offerings",
			change: func(*catalog.Catalog) {},
		},
		{
			name:   "empty",
			reason: "services MAY be empty",
			change: func(c *catalog.Catalog) { c.Services = nil },
		},
		{
			name:   "service id empty",
			reason: "C2: an offering id MUST be non-empty",
			change: func(c *catalog.Catalog) { c.Services[0].ID = "" },
			want:   []*catalog.ValidationError{{Path: sqs + ".id", Message: "must not be empty"}},
		},
		{
			name:   "plan id empty",
			reason: "C2: a plan id MUST be non-empty",
			change: func(c *catalog.Catalog) { c.Services[0].Plans[1].ID = "" },
			want:   []*catalog.ValidationError{{Path: sqsFifo + ".id", Message: "must not be empty"}},
		},
		{
			name:   "duplicate service id",
			reason: "C2: ids are globally unique",
			change: func(c *catalog.Catalog) { c.Services[1].ID = "svc-1" },
			want:   []*catalog.ValidationError{{Path: sns + ".id", Message: `"svc-1" is already used by ` + sqs}},
		},
		{
			name:   "duplicate plan id across offerings",
			reason: "C2: plan ids are unique across the whole catalog, not only within an offering",
			change: func(c *catalog.Catalog) { c.Services[1].Plans[0].ID = "plan-1" },
			want:   []*catalog.ValidationError{{Path: snsStd + ".id", Message: `"plan-1" is already used by ` + sqsStd}},
		},
		{
			name:   "plan id equal to a service id",
			reason: "C2: a plan may not reuse an offering's id either",
			change: func(c *catalog.Catalog) { c.Services[0].Plans[0].ID = "svc-1" },
			want:   []*catalog.ValidationError{{Path: sqsStd + ".id", Message: `"svc-1" is already used by ` + sqs}},
		},
		{
			name:   "service name empty",
			reason: "C3: an offering name MUST be non-empty; the path falls back to the id",
			change: func(c *catalog.Catalog) { c.Services[0].Name = "" },
			want:   []*catalog.ValidationError{{Path: `services[0] (id "svc-1").name`, Message: "must not be empty"}},
		},
		{
			name:   "duplicate service name",
			reason: "C3: offering names are unique across offerings",
			change: func(c *catalog.Catalog) { c.Services[1].Name = "sqs" },
			want:   []*catalog.ValidationError{{Path: `services[1] ("sqs").name`, Message: `"sqs" is already used by ` + sqs}},
		},
		{
			name:   "service names differing in case",
			reason: "C3: names are compared case-sensitively",
			change: func(c *catalog.Catalog) { c.Services[1].Name = "SQS" },
		},
		{
			name:   "service name not CLI-friendly",
			reason: "C3: only letters, digits, periods and hyphens",
			change: func(c *catalog.Catalog) { c.Services[0].Name = "my queue" },
			want: []*catalog.ValidationError{{
				Path:    `services[0] ("my queue").name`,
				Message: `"my queue" is not CLI-friendly: use only letters, digits, periods and hyphens`,
			}},
		},
		{
			name:   "CLI-friendly names",
			reason: "C3/C4: upper case, digits, periods and hyphens are all allowed",
			change: func(c *catalog.Catalog) {
				c.Services[0].Name = "dh-sqs.V2"
				c.Services[0].Plans[0].Name = "Standard-1.0"
			},
		},
		{
			name:   "plan name empty",
			reason: "C4: a plan name MUST be non-empty",
			change: func(c *catalog.Catalog) { c.Services[0].Plans[0].Name = "" },
			want:   []*catalog.ValidationError{{Path: `services[0] ("sqs").plans[0] (id "plan-1").name`, Message: "must not be empty"}},
		},
		{
			name:   "duplicate plan name",
			reason: "C4: plan names are unique within their offering",
			change: func(c *catalog.Catalog) { c.Services[0].Plans[1].Name = "standard" },
			want: []*catalog.ValidationError{{
				Path:    `services[0] ("sqs").plans[1] ("standard").name`,
				Message: `"standard" is already used by ` + sqsStd,
			}},
		},
		{
			name:   "plan name with underscore",
			reason: "C4: the spec's CLI-friendly set has no underscore",
			change: func(c *catalog.Catalog) { c.Services[0].Plans[1].Name = "fifo_1" },
			want: []*catalog.ValidationError{{
				Path:    `services[0] ("sqs").plans[1] ("fifo_1").name`,
				Message: `"fifo_1" is not CLI-friendly: use only letters, digits, periods and hyphens`,
			}},
		},
		{
			name:   "service description empty",
			reason: "C5: description is REQUIRED and non-empty on every offering",
			change: func(c *catalog.Catalog) { c.Services[1].Description = "" },
			want:   []*catalog.ValidationError{{Path: sns + ".description", Message: "must not be empty"}},
		},
		{
			name:   "plan description empty",
			reason: "C5: description is REQUIRED and non-empty on every plan",
			change: func(c *catalog.Catalog) { c.Services[1].Plans[0].Description = "" },
			want:   []*catalog.ValidationError{{Path: snsStd + ".description", Message: "must not be empty"}},
		},
		{
			name:   "no plans",
			reason: "C7: every offering has at least one plan",
			change: func(c *catalog.Catalog) { c.Services[1].Plans = nil },
			want:   []*catalog.ValidationError{{Path: sns + ".plans", Message: "must have at least one plan"}},
		},
		{
			name:   "requires all known",
			reason: "C11: the three permissions are allowed",
			change: func(c *catalog.Catalog) {
				c.Services[0].Requires = []string{"syslog_drain", "route_forwarding", "volume_mount"}
			},
		},
		{
			name:   "requires unknown",
			reason: "C11: requires is a subset of the three permissions",
			change: func(c *catalog.Catalog) { c.Services[0].Requires = []string{"syslog_drain", "network"} },
			want: []*catalog.ValidationError{{
				Path:    sqs + ".requires[1]",
				Message: `"network" is not a supported permission (syslog_drain, route_forwarding or volume_mount)`,
			}},
		},
		{
			name:   "requires duplicate",
			reason: "C11: each permission is listed once",
			change: func(c *catalog.Catalog) { c.Services[0].Requires = []string{"volume_mount", "volume_mount"} },
			want:   []*catalog.ValidationError{{Path: sqs + ".requires[1]", Message: `"volume_mount" is listed more than once`}},
		},
		{
			name:   "negative polling duration",
			reason: "C15: a duration in seconds cannot be negative",
			change: func(c *catalog.Catalog) { c.Services[0].Plans[0].MaximumPollingDuration = -1 },
			want:   []*catalog.ValidationError{{Path: sqsStd + ".maximum_polling_duration", Message: "must not be negative, got -1"}},
		},
		{
			name:   "maintenance version valid",
			reason: "C16: the spec's own example version, with build metadata",
			change: func(c *catalog.Catalog) {
				c.Services[0].Plans[0].MaintenanceInfo = &catalog.MaintenanceInfo{Version: "2.1.1+abcdef"}
			},
		},
		{
			name:   "maintenance version not semver",
			reason: "C16: version MUST be semantic version 2.0",
			change: func(c *catalog.Catalog) {
				c.Services[0].Plans[1].MaintenanceInfo = &catalog.MaintenanceInfo{Version: "1.x"}
			},
			want: []*catalog.ValidationError{{Path: sqsFifo + ".maintenance_info.version", Message: `"1.x" is not a semantic version 2.0`}},
		},
		{
			name:   "maintenance version empty",
			reason: "C16: version is REQUIRED when maintenance_info is present",
			change: func(c *catalog.Catalog) {
				c.Services[0].Plans[1].MaintenanceInfo = &catalog.MaintenanceInfo{Description: "OS update"}
			},
			want: []*catalog.ValidationError{{Path: sqsFifo + ".maintenance_info.version", Message: "must not be empty"}},
		},
		{
			name:   "dashboard client without id",
			reason: "C17: a dashboard client needs an id",
			change: func(c *catalog.Catalog) {
				c.Services[0].DashboardClient = &catalog.DashboardClient{Secret: "hunter2-SECRET"}
			},
			want: []*catalog.ValidationError{{Path: sqs + ".dashboard_client.id", Message: "must not be empty"}},
		},
		{
			name:   "dashboard client without secret",
			reason: "C17: a dashboard client needs a secret",
			change: func(c *catalog.Catalog) {
				c.Services[0].DashboardClient = &catalog.DashboardClient{ID: "client"}
			},
			want: []*catalog.ValidationError{{Path: sqs + ".dashboard_client.secret", Message: "must not be empty"}},
		},
		{
			name:   "metadata not encodable",
			reason: "C19: a catalog that cannot be served is refused at startup",
			change: func(c *catalog.Catalog) {
				cyclic := map[string]any{}
				cyclic["self"] = cyclic
				c.Services[0].Metadata = cyclic
				c.Services[0].Plans[0].Metadata = map[string]any{"cost": math.Inf(1)}
			},
			want: []*catalog.ValidationError{
				{Path: sqs + ".metadata", Message: "cannot be encoded as JSON: json: unsupported value: encountered a cycle via map[string]interface {}"},
				{Path: sqsStd + ".metadata", Message: "cannot be encoded as JSON: json: unsupported value: +Inf"},
			},
		},
		{
			name:   "every draft",
			reason: "C14: draft-04, 06, 07, 2019-09 and 2020-12 are understood, over http or https, with or without '#'",
			change: func(c *catalog.Catalog) {
				p := &c.Services[0].Plans[0]
				withSchema(p, catalog.InstanceCreate, catalog.Schema{"$schema": "http://json-schema.org/draft-04/schema"})
				withSchema(p, catalog.InstanceUpdate, catalog.Schema{"$schema": "https://json-schema.org/draft-06/schema#"})
				withSchema(p, catalog.BindingCreate, catalog.Schema{"$schema": draft07})
				withSchema(&c.Services[0].Plans[1], catalog.InstanceCreate, catalog.Schema{"$schema": "https://json-schema.org/draft/2019-09/schema"})
				withSchema(&c.Services[0].Plans[1], catalog.InstanceUpdate, catalog.Schema{"$schema": draft20})
			},
		},
		{
			name:   "schema without $schema",
			reason: "C14: $schema MUST be present",
			change: func(c *catalog.Catalog) {
				withSchema(&c.Services[0].Plans[0], catalog.InstanceCreate, catalog.Schema{"type": "object"})
			},
			want: []*catalog.ValidationError{{Path: createSch, Message: `missing "$schema"`}},
		},
		{
			name:   "$schema not a string",
			reason: "C14: $schema declares the draft by URI",
			change: func(c *catalog.Catalog) {
				withSchema(&c.Services[0].Plans[0], catalog.InstanceCreate, catalog.Schema{"$schema": 4})
			},
			want: []*catalog.ValidationError{{Path: createSch, Message: `"$schema" must be a string`}},
		},
		{
			name:   "$schema unknown draft",
			reason: "C14: a custom metaschema would have to be loaded, which is never done",
			change: func(c *catalog.Catalog) {
				withSchema(&c.Services[0].Plans[0], catalog.InstanceUpdate, catalog.Schema{"$schema": "https://example.com/my-meta"})
			},
			want: []*catalog.ValidationError{{
				Path:    sqsStd + ".schemas.service_instance.update.parameters",
				Message: `"$schema" "https://example.com/my-meta" is not a supported JSON Schema draft (draft-04, draft-06, draft-07, 2019-09 or 2020-12)`,
			}},
		},
		{
			name:   "internal $ref",
			reason: "C14: references inside the document are fine",
			change: func(c *catalog.Catalog) {
				withSchema(&c.Services[0].Plans[0], catalog.InstanceCreate, catalog.Schema{
					"$schema":     draft07,
					"definitions": map[string]any{"name": map[string]any{"type": "string"}},
					"properties":  map[string]any{"a": map[string]any{"$ref": "#/definitions/name"}},
				})
			},
		},
		{
			name:   "external $ref",
			reason: "C14: schemas MUST NOT contain external references, however deep",
			change: func(c *catalog.Catalog) {
				withSchema(&c.Services[0].Plans[0], catalog.InstanceCreate, catalog.Schema{
					"$schema": draft07,
					"properties": map[string]any{
						"a": map[string]any{"$ref": "https://example.com/a.json"},
						"b": map[string]any{"items": []any{map[string]any{"$ref": "file:///etc/passwd"}}},
					},
				})
			},
			want: []*catalog.ValidationError{
				{Path: createSch, Message: `external reference "https://example.com/a.json" at /properties/a/$ref: only references starting with "#" are allowed`},
				{Path: createSch, Message: `external reference "file:///etc/passwd" at /properties/b/items/0/$ref: only references starting with "#" are allowed`},
			},
		},
		{
			name:   "relative $ref",
			reason: "C14: a relative reference names another document too",
			change: func(c *catalog.Catalog) {
				withSchema(&c.Services[0].Plans[0], catalog.InstanceCreate, catalog.Schema{"$schema": draft07, "$ref": "other.json#/a"})
			},
			want: []*catalog.ValidationError{{Path: createSch, Message: `external reference "other.json#/a" at /$ref: only references starting with "#" are allowed`}},
		},
		{
			name:   "schema too large",
			reason: "C14: schemas MUST NOT be larger than 64 kB",
			change: func(c *catalog.Catalog) {
				withSchema(&c.Services[0].Plans[0], catalog.InstanceCreate, big)
			},
			want: []*catalog.ValidationError{{Path: createSch, Message: fmt.Sprintf("is %d bytes as JSON, more than the 65536 allowed", len(bigJSON))}},
		},
		{
			name:   "schema does not match its metaschema",
			reason: "C14: the schema must compile under its draft",
			change: func(c *catalog.Catalog) {
				withSchema(&c.Services[0].Plans[0], catalog.InstanceCreate, catalog.Schema{"$schema": draft07, "minLength": "three"})
			},
			want: []*catalog.ValidationError{{Path: createSch, Message: "does not compile: at '/minLength': got string, want integer"}},
		},
		{
			name:   "schema with a bad regexp",
			reason: "C14: patterns must compile (Go RE2 syntax)",
			change: func(c *catalog.Catalog) {
				withSchema(&c.Services[0].Plans[0], catalog.InstanceCreate, catalog.Schema{"$schema": draft07, "pattern": "("})
			},
			want: []*catalog.ValidationError{{Path: createSch, Message: "does not compile: at '/pattern': '(' is not valid regex: error parsing regexp: missing closing ): `(`"}},
		},
		{
			name:   "dangling local $ref",
			reason: "C14: a local reference must resolve",
			change: func(c *catalog.Catalog) {
				withSchema(&c.Services[0].Plans[0], catalog.InstanceCreate, catalog.Schema{"$schema": draft07, "$ref": "#/definitions/nope"})
			},
			want: []*catalog.ValidationError{{Path: createSch, Message: `does not compile: json-pointer in "#/definitions/nope" not found`}},
		},
		{
			name:   "binding schema on a non-bindable offering",
			reason: "C14/C6: service_binding is used only if the plan is bindable",
			change: func(c *catalog.Catalog) {
				withSchema(&c.Services[1].Plans[0], catalog.BindingCreate, catalog.Schema{"$schema": draft04})
			},
			want: []*catalog.ValidationError{{
				Path:    snsStd + ".schemas.service_binding.create.parameters",
				Message: "the plan is not bindable, so it must not have a binding schema",
			}},
		},
		{
			name:   "binding schema on a plan that overrides bindable to false",
			reason: "C6: the plan's bindable wins over the offering's",
			change: func(c *catalog.Catalog) {
				c.Services[0].Plans[1].Bindable = catalog.Bool(false)
				withSchema(&c.Services[0].Plans[1], catalog.BindingCreate, catalog.Schema{"$schema": draft04})
			},
			want: []*catalog.ValidationError{{
				Path:    sqsFifo + ".schemas.service_binding.create.parameters",
				Message: "the plan is not bindable, so it must not have a binding schema",
			}},
		},
		{
			name:   "binding schema on a plan that overrides bindable to true",
			reason: "C6: a bindable plan of a non-bindable offering may have a binding schema",
			change: func(c *catalog.Catalog) {
				c.Services[1].Plans[0].Bindable = catalog.Bool(true)
				withSchema(&c.Services[1].Plans[0], catalog.BindingCreate, catalog.Schema{"$schema": draft04})
			},
		},
		{
			name:   "empty schema object",
			reason: "an empty parameters object is omitted from the JSON, so it counts as no schema",
			change: func(c *catalog.Catalog) {
				withSchema(&c.Services[0].Plans[0], catalog.InstanceCreate, catalog.Schema{})
			},
		},
		{
			name:   "credentials valid",
			reason: "every mapping, op and field used as documented",
			change: func(c *catalog.Catalog) {
				c.Services[0].Credentials = &catalog.CredentialsSpec{
					Mapping: catalog.MappingServiceBinding, Type: "mysql", Provider: "aws",
					Transforms: []catalog.KeyTransform{
						{Op: catalog.OpRename, Key: "db-name", To: "database"},
						{Op: catalog.OpAdd, Key: "sslmode", Value: "require"},
						{Op: catalog.OpAdd, Key: "uri", Template: "mysql://{{urlquery .username}}@{{.host}}:{{.port}}/{{.database}}"},
						{Op: catalog.OpRemove, Key: "AWS_REGION"},
					},
					Lifetime: catalog.Duration(720 * time.Hour),
				}
				c.Services[1].Credentials = &catalog.CredentialsSpec{Mapping: catalog.MappingScreamingSnake, Type: "servicebinding.io-v1"}
			},
		},
		{
			name:   "credentials zero",
			reason: "an empty spec keeps output names as they are",
			change: func(c *catalog.Catalog) { c.Services[0].Credentials = &catalog.CredentialsSpec{} },
		},
		{
			name:   "credentials mapping unknown",
			reason: "package binding knows three mappings",
			change: func(c *catalog.Catalog) { c.Services[0].Credentials = &catalog.CredentialsSpec{Mapping: "camel"} },
			want:   []*catalog.ValidationError{{Path: sqs + ".credentials.mapping", Message: `"camel" is not as-is, screaming-snake or servicebinding`}},
		},
		{
			name:   "credentials type and provider not lower case",
			reason: "servicebinding.io types and providers are lower case, like mysql and aws; the type also names the Secret type",
			change: func(c *catalog.Catalog) {
				c.Services[0].Credentials = &catalog.CredentialsSpec{Type: "MySQL", Provider: "aws inc"}
			},
			want: []*catalog.ValidationError{
				{Path: sqs + ".credentials.type", Message: `"MySQL" must be lower case: use only a-z, 0-9, hyphens and periods`},
				{Path: sqs + ".credentials.provider", Message: `"aws inc" must be lower case: use only a-z, 0-9, hyphens and periods`},
			},
		},
		{
			name:   "credentials provider without type",
			reason: "the Secret gets a provider entry only along with a type entry, so a lone provider would be ignored",
			change: func(c *catalog.Catalog) { c.Services[0].Credentials = &catalog.CredentialsSpec{Provider: "aws"} },
			want:   []*catalog.ValidationError{{Path: sqs + ".credentials.provider", Message: "is set but type is not: a provider needs a type"}},
		},
		{
			name:   "credentials transform op unknown or empty",
			reason: "the ops are rename, add and remove; a typo must not be skipped",
			change: func(c *catalog.Catalog) {
				c.Services[0].Credentials = &catalog.CredentialsSpec{Transforms: []catalog.KeyTransform{
					{Op: catalog.OpRemove, Key: "a"},
					{Op: "rname", Key: "b", To: "c"},
					{Key: "d"},
				}}
			},
			want: []*catalog.ValidationError{
				{Path: sqs + ".credentials.transforms[1].op", Message: `"rname" is not rename, add or remove`},
				{Path: sqs + ".credentials.transforms[2].op", Message: "must not be empty (rename, add or remove)"},
			},
		},
		{
			name:   "credentials transform without key",
			reason: "every op names the key it changes",
			change: func(c *catalog.Catalog) {
				c.Services[0].Credentials = &catalog.CredentialsSpec{Transforms: []catalog.KeyTransform{{Op: catalog.OpRemove}}}
			},
			want: []*catalog.ValidationError{{Path: sqs + ".credentials.transforms[0].key", Message: "must not be empty"}},
		},
		{
			name:   "credentials rename without to, with a value",
			reason: "a rename needs the new key and nothing else",
			change: func(c *catalog.Catalog) {
				c.Services[0].Credentials = &catalog.CredentialsSpec{Transforms: []catalog.KeyTransform{{Op: catalog.OpRename, Key: "a", Value: "x", Template: "{{.a}}"}}}
			},
			want: []*catalog.ValidationError{
				{Path: sqs + ".credentials.transforms[0].to", Message: "must not be empty: a rename needs the new key"},
				{Path: sqs + ".credentials.transforms[0].value", Message: "must not be set for rename"},
				{Path: sqs + ".credentials.transforms[0].template", Message: "must not be set for rename"},
			},
		},
		{
			name:   "credentials add with neither value nor template, or both, or to",
			reason: "an add needs exactly one source of its value",
			change: func(c *catalog.Catalog) {
				c.Services[0].Credentials = &catalog.CredentialsSpec{Transforms: []catalog.KeyTransform{
					{Op: catalog.OpAdd, Key: "a"},
					{Op: catalog.OpAdd, Key: "b", Value: "x", Template: "{{.a}}"},
					{Op: catalog.OpAdd, Key: "c", Value: "x", To: "d"},
				}}
			},
			want: []*catalog.ValidationError{
				{Path: sqs + ".credentials.transforms[0]", Message: "add needs exactly one of value and template, got neither"},
				{Path: sqs + ".credentials.transforms[1]", Message: "add needs exactly one of value and template, got both"},
				{Path: sqs + ".credentials.transforms[2].to", Message: "must not be set for add"},
			},
		},
		{
			name:   "credentials add template does not parse",
			reason: "a broken template is caught when the catalog loads, not at the first bind",
			change: func(c *catalog.Catalog) {
				c.Services[0].Credentials = &catalog.CredentialsSpec{Transforms: []catalog.KeyTransform{{Op: catalog.OpAdd, Key: "uri", Template: "{{.host"}}}
			},
			want: []*catalog.ValidationError{{Path: sqs + ".credentials.transforms[0].template", Message: "does not parse: template: uri:1: unclosed action"}},
		},
		{
			name:   "credentials remove with other fields",
			reason: "a remove needs only the key",
			change: func(c *catalog.Catalog) {
				c.Services[0].Credentials = &catalog.CredentialsSpec{Transforms: []catalog.KeyTransform{{Op: catalog.OpRemove, Key: "a", To: "b", Value: "c", Template: "d"}}}
			},
			want: []*catalog.ValidationError{
				{Path: sqs + ".credentials.transforms[0].to", Message: "must not be set for remove"},
				{Path: sqs + ".credentials.transforms[0].value", Message: "must not be set for remove"},
				{Path: sqs + ".credentials.transforms[0].template", Message: "must not be set for remove"},
			},
		},
		{
			name:   "credentials lifetime negative",
			reason: "a binding cannot expire before it is created",
			change: func(c *catalog.Catalog) {
				c.Services[1].Credentials = &catalog.CredentialsSpec{Lifetime: catalog.Duration(-time.Hour)}
			},
			want: []*catalog.ValidationError{{Path: sns + ".credentials.lifetime", Message: "must not be negative, got -1h0m0s"}},
		},
		{
			name:   "credentials after the plans",
			reason: "credentials are not in the JSON document; their problems come after the service's plans",
			change: func(c *catalog.Catalog) {
				c.Services[0].Credentials = &catalog.CredentialsSpec{Mapping: "snake"}
				c.Services[0].Plans[1].Description = ""
				c.Services[1].Description = ""
			},
			want: []*catalog.ValidationError{
				{Path: sqsFifo + ".description", Message: "must not be empty"},
				{Path: sqs + ".credentials.mapping", Message: `"snake" is not as-is, screaming-snake or servicebinding`},
				{Path: sns + ".description", Message: "must not be empty"},
			},
		},
		{
			name:   "many problems in document order",
			reason: "Validate reports every problem, not only the first, in the order of the JSON document",
			change: func(c *catalog.Catalog) {
				c.Services[0].Plans[1].MaintenanceInfo = &catalog.MaintenanceInfo{Version: "01.0.0"}
				c.Services[0].Plans[1].Description = ""
				c.Services[0].Description = ""
				c.Services[1].Plans[0].ID = "plan-2"
				c.Services[1].ID = ""
			},
			want: []*catalog.ValidationError{
				{Path: sqs + ".description", Message: "must not be empty"},
				{Path: sqsFifo + ".description", Message: "must not be empty"},
				{Path: sqsFifo + ".maintenance_info.version", Message: `"01.0.0" is not a semantic version 2.0`},
				{Path: sns + ".id", Message: "must not be empty"},
				{Path: snsStd + ".id", Message: `"plan-2" is already used by ` + sqsFifo},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := baseCatalog()
			tc.change(&c)
			err := c.Validate()
			var got []*catalog.ValidationError
			if err != nil {
				var errs catalog.ValidationErrors
				if !errors.As(err, &errs) {
					t.Fatalf("Validate() = %v (%T), want catalog.ValidationErrors", err, err)
				}
				got = errs
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s\nValidate() problems mismatch (-want +got):\n%s", tc.reason, diff)
			}
			// NewIndex enforces exactly the same rules.
			_, ierr := catalog.NewIndex(c)
			if (err == nil) != (ierr == nil) || (err != nil && err.Error() != ierr.Error()) {
				t.Errorf("NewIndex() error = %v, want %v", ierr, err)
			}
		})
	}
}

func TestValidationErrorText(t *testing.T) {
	t.Parallel()
	c := baseCatalog()
	c.Services[0].Plans[0].MaintenanceInfo = &catalog.MaintenanceInfo{Version: "1.x"}
	c.Services[0].Plans[1].MaintenanceInfo = &catalog.MaintenanceInfo{Version: "1.x"}
	err := c.Validate()
	want := `catalog: services[0] ("sqs").plans[0] ("standard").maintenance_info.version: "1.x" is not a semantic version 2.0` + "\n" +
		`catalog: services[0] ("sqs").plans[1] ("fifo").maintenance_info.version: "1.x" is not a semantic version 2.0`
	if err == nil || err.Error() != want {
		t.Fatalf("Validate() = %v, want\n%s", err, want)
	}
	var ve *catalog.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("errors.As(%T, *ValidationError) = false", err)
	}
	if diff := cmp.Diff(&catalog.ValidationError{Path: sqsStd + ".maintenance_info.version", Message: `"1.x" is not a semantic version 2.0`}, ve); diff != "" {
		t.Errorf("first problem mismatch (-want +got):\n%s", diff)
	}
}

func TestValidateNeverPrintsDashboardSecret(t *testing.T) {
	t.Parallel()
	c := baseCatalog()
	c.Services[0].DashboardClient = &catalog.DashboardClient{Secret: "hunter2-SECRET", RedirectURI: "hunter2-SECRET"}
	c.Services[0].Description = ""
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want an error")
	}
	for _, s := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("error text contains the secret: %s", s)
		}
	}
}

func TestValidateNil(t *testing.T) {
	t.Parallel()
	var c *catalog.Catalog
	if err := c.Validate(); err != nil {
		t.Errorf("(*Catalog)(nil).Validate() = %v, want nil", err)
	}
	if err := (&catalog.Catalog{}).Validate(); err != nil {
		t.Errorf("zero Catalog.Validate() = %v, want nil", err)
	}
}
