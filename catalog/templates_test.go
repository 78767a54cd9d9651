package catalog_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/internal/osbspec"
)

// awsTemplates are the AWS Service Broker's own templates, copied
// unchanged (with their LICENSE) from shared/aws-servicebroker-templates.
const awsTemplates = "testdata/templates/aws-servicebroker"

func loadAWS(t *testing.T, opts catalog.TemplateOptions) *catalog.TemplateSet {
	t.Helper()
	set, err := catalog.LoadTemplates(os.DirFS(awsTemplates), opts)
	if err != nil {
		t.Fatalf("LoadTemplates: %v", err)
	}
	return set
}

// goldenTemplate is a Template without its Body, which is the file.
type goldenTemplate struct {
	File                string                               `json:"file"`
	ServiceName         string                               `json:"serviceName"`
	PlanName            string                               `json:"planName"`
	ID                  string                               `json:"id"`
	BodyBytes           int                                  `json:"bodyBytes"`
	Parameters          map[string]catalog.TemplateParameter `json:"parameters"`
	FixedParameters     map[string]string                    `json:"fixedParameters"`
	DefaultParameters   map[string]string                    `json:"defaultParameters"`
	Capabilities        []string                             `json:"capabilities"`
	Outputs             []string                             `json:"outputs"`
	UpdatableParameters []string                             `json:"updatableParameters"`
	OutputsAsIs         bool                                 `json:"outputsAsIs"`
}

// TestLoadTemplatesGolden checks the catalog entry and the per-plan
// template information produced from each of the AWS Service Broker's
// templates against testdata/templates/golden/<service>.json. Run with
// -update to rewrite them.
func TestLoadTemplatesGolden(t *testing.T) {
	set := loadAWS(t, catalog.TemplateOptions{})
	if len(set.Warnings) > 0 {
		t.Errorf("warnings for the AWS templates:\n%s", strings.Join(set.Warnings, "\n"))
	}
	var names []string
	for _, s := range set.Catalog.Services {
		names = append(names, s.Name)
	}
	if want := []string{"dynamodb", "kinesis", "kms", "s3", "sns", "sqs"}; !slices.Equal(names, want) {
		t.Fatalf("services %v, want %v", names, want)
	}
	for _, s := range set.Catalog.Services {
		t.Run(s.Name, func(t *testing.T) {
			// Credentials is json:"-" in Service (never sent to
			// platforms), so the golden file carries it on its own.
			g := struct {
				Service     catalog.Service           `json:"service"`
				Credentials *catalog.CredentialsSpec  `json:"credentials"`
				Templates   map[string]goldenTemplate `json:"templates"`
			}{Service: s, Credentials: s.Credentials, Templates: map[string]goldenTemplate{}}
			for _, p := range s.Plans {
				tp := set.Templates[p.ID]
				if tp == nil {
					t.Fatalf("plan %s has no template", p.Name)
				}
				raw, err := os.ReadFile(filepath.Join(awsTemplates, tp.File))
				if err != nil {
					t.Fatal(err)
				}
				if tp.Body != string(raw) {
					t.Errorf("plan %s: Body is not the file as read", p.Name)
				}
				g.Templates[p.Name] = goldenTemplate{
					File: tp.File, ServiceName: tp.ServiceName, PlanName: tp.PlanName, ID: tp.ID,
					BodyBytes: len(tp.Body), Parameters: tp.Parameters, FixedParameters: tp.FixedParameters,
					DefaultParameters: tp.DefaultParameters, Capabilities: tp.Capabilities, Outputs: tp.Outputs,
					UpdatableParameters: tp.UpdatableParameters, OutputsAsIs: tp.OutputsAsIs,
				}
			}
			got, err := json.MarshalIndent(g, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "templates", "golden", s.Name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
			}
		})
	}
}

// TestLoadTemplatesCatalogIsValid checks that the catalog of the AWS
// templates passes Validate and NewIndex, and that each plan's schema
// accepts its defaults and refuses what the template forbids.
func TestLoadTemplatesCatalogIsValid(t *testing.T) {
	set := loadAWS(t, catalog.TemplateOptions{})
	if err := set.Catalog.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	x, err := catalog.NewIndex(set.Catalog)
	if err != nil {
		t.Fatalf("NewIndex: %v", err)
	}
	var plans int
	for _, s := range set.Catalog.Services {
		plans += len(s.Plans)
		for _, p := range s.Plans {
			if set.Templates[p.ID] == nil {
				t.Errorf("%s/%s: no template", s.Name, p.Name)
			}
			// The schema's defaults are valid parameters.
			defaults := map[string]any{}
			props, _ := p.InstanceCreateSchema()["properties"].(map[string]any)
			for name, prop := range props {
				if d, ok := prop.(map[string]any)["default"]; ok {
					defaults[name] = d
				}
			}
			for _, name := range requiredOf(p.InstanceCreateSchema()) {
				defaults[name] = "x"
			}
			raw, _ := json.Marshal(defaults)
			if err := x.ValidateParameters(p.ID, catalog.InstanceCreate, raw); err != nil {
				t.Errorf("%s/%s: the schema's own defaults are refused: %v", s.Name, p.Name, err)
			}
		}
	}
	if len(set.Templates) != plans {
		t.Errorf("%d templates for %d plans", len(set.Templates), plans)
	}

	sqs := planByName(t, set, "sqs", "standard")
	for _, tt := range []struct {
		reason string
		params string
		want   string // "" for valid
	}{
		{"an integer parameter takes an integer", `{"DelaySeconds": 10}`, ""},
		{"the template's Number is an integer", `{"DelaySeconds": 1.5}`, "parameters do not match the plan's service_instance.create schema: /DelaySeconds: must be integer, got number"},
		{"CloudFormation's numbers are JSON numbers, not strings", `{"DelaySeconds": "10"}`, "parameters do not match the plan's service_instance.create schema: /DelaySeconds: must be integer, got string"},
		{"AllowedValues is an enum", `{"UsedeadletterQueue": "maybe"}`, `parameters do not match the plan's service_instance.create schema: /UsedeadletterQueue: must be one of "true", "false"`},
		{"a parameter the plan fixes cannot be set", `{"FifoQueue": "true"}`, "parameters do not match the plan's service_instance.create schema: /FifoQueue: property not allowed"},
		{"nor can one the template does not declare", `{"QueueName": "q"}`, "parameters do not match the plan's service_instance.create schema: /QueueName: property not allowed"},
	} {
		err := x.ValidateParameters(sqs.ID, catalog.InstanceCreate, json.RawMessage(tt.params))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%s: %s: got %q, want %q", tt.reason, tt.params, got, tt.want)
		}
	}
	// No AWS template lists UpdatableParameters: updates change nothing.
	if err := x.ValidateParameters(sqs.ID, catalog.InstanceUpdate, json.RawMessage(`{"DelaySeconds": 10}`)); err == nil {
		t.Error("an update of a parameter that is not updatable passes the update schema")
	}
}

func requiredOf(s catalog.Schema) []string {
	var out []string
	req, _ := s["required"].([]any)
	for _, r := range req {
		out = append(out, r.(string))
	}
	return out
}

func planByName(t *testing.T, set *catalog.TemplateSet, service, plan string) *catalog.Plan {
	t.Helper()
	for i := range set.Catalog.Services {
		s := &set.Catalog.Services[i]
		if s.Name != service {
			continue
		}
		for j := range s.Plans {
			if s.Plans[j].Name == plan {
				return &s.Plans[j]
			}
		}
	}
	t.Fatalf("no plan %s/%s", service, plan)
	return nil
}

// TestLoadTemplatesOpenAPI checks the catalog's JSON against the OSB
// OpenAPI document, as the body of GET /v2/catalog.
func TestLoadTemplatesOpenAPI(t *testing.T) {
	set := loadAWS(t, catalog.TemplateOptions{})
	v, err := osbspec.Load()
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(set.Catalog)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/v2/catalog", nil)
	req.Header.Set("X-Broker-API-Version", "2.17")
	if err := v.ValidateResponse(req, http.StatusOK, http.Header{"Content-Type": {"application/json"}}, body); err != nil {
		t.Errorf("the catalog of the AWS templates does not match openapi.yaml: %v", err)
	}
}

// TestTemplateIDs checks that IDs are stable, seeded by BrokerID, follow
// the documented UUID scheme, and yield to overrides.
func TestTemplateIDs(t *testing.T) {
	ids := func(set *catalog.TemplateSet) map[string]string {
		out := map[string]string{}
		for _, s := range set.Catalog.Services {
			out[s.Name] = s.ID
			for _, p := range s.Plans {
				out[s.Name+"/"+p.Name] = p.ID
			}
		}
		return out
	}
	first := ids(loadAWS(t, catalog.TemplateOptions{}))
	if diff := cmp.Diff(first, ids(loadAWS(t, catalog.TemplateOptions{BrokerID: "brokerkit"}))); diff != "" {
		t.Errorf("IDs changed between two loads (-first +second):\n%s", diff)
	}
	// Computed independently with Python's uuid module:
	//	ns = uuid5(NAMESPACE_URL, "brokerkit:broker:brokerkit")
	//	uuid5(ns, "service:sqs"), uuid5(ns, "plan:sqs/standard")
	if got, want := first["sqs"], "d99fee7f-3ab5-5716-ac90-eb85058e9cf9"; got != want {
		t.Errorf("sqs service ID %s, want %s", got, want)
	}
	if got, want := first["sqs/standard"], "772bb23d-5d8c-55b6-9a8a-72c4a64eac8d"; got != want {
		t.Errorf("sqs/standard plan ID %s, want %s", got, want)
	}

	other := ids(loadAWS(t, catalog.TemplateOptions{BrokerID: "other-broker"}))
	for k, v := range first {
		if other[k] == v {
			t.Errorf("%s: same ID %s for another BrokerID", k, v)
		}
	}

	over := ids(loadAWS(t, catalog.TemplateOptions{IDs: map[string]string{
		"sqs":      "old-sqs-service-id",
		"sqs/fifo": "old-sqs-fifo-plan-id",
	}}))
	want := maps(first, map[string]string{"sqs": "old-sqs-service-id", "sqs/fifo": "old-sqs-fifo-plan-id"})
	if diff := cmp.Diff(want, over); diff != "" {
		t.Errorf("overrides (-want +got):\n%s", diff)
	}
}

// maps returns a copy of a with the entries of b.
func maps(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// minimal is the smallest template LoadTemplates accepts.
const minimal = `Description: A test service (qs-1abcdefgh)
Metadata:
  AWS::ServiceBroker::Specification:
    Name: test
    ServicePlans:
      basic:
        Description: The basic plan
Resources:
  Queue:
    Type: AWS::SQS::Queue
`

// withSpec returns a template like minimal, with extra lines under the
// basic plan and at the end of the specification, and the given
// Parameters section.
func withSpec(planExtra, specExtra, parameters string) string {
	s := `Description: A test service
Metadata:
  AWS::ServiceBroker::Specification:
    Name: test
    ServicePlans:
      basic:
        Description: The basic plan
` + indent(planExtra, "        ") + indent(specExtra, "    ") + `Parameters:
` + indent(parameters, "  ") + `Resources:
  Queue:
    Type: AWS::SQS::Queue
`
	return s
}

func indent(s, prefix string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}

func mapFS(files ...string) fstest.MapFS {
	m := fstest.MapFS{}
	for i := 0; i+1 < len(files); i += 2 {
		m[files[i]] = &fstest.MapFile{Data: []byte(files[i+1])}
	}
	return m
}

// TestLoadTemplatesErrors checks that every problem is reported, each
// naming the file and the field.
func TestLoadTemplatesErrors(t *testing.T) {
	t.Parallel()
	big := minimal + "# " + strings.Repeat("x", 51200) + "\n"
	for _, tt := range []struct {
		reason string
		fsys   fs.FS
		opts   catalog.TemplateOptions
		want   string
	}{
		{
			reason: "a plan fixes a parameter the template does not declare",
			fsys:   mapFS("sqs.yaml", withSpec("ParameterValues:\n  Nope: 'x'\n", "", "Size:\n  Type: Number\n  Default: 1\n")),
			want:   "catalog: sqs.yaml: Metadata.AWS::ServiceBroker::Specification.ServicePlans.basic.ParameterValues.Nope: not a template parameter",
		},
		{
			reason: "a template without the specification is not a broker template",
			fsys:   mapFS("plain.yaml", "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n"),
			want:   "catalog: plain.yaml: Metadata.AWS::ServiceBroker::Specification: missing: this is not an AWS Service Broker template",
		},
		{
			reason: "two templates with the same service name name both files",
			fsys:   mapFS("a.yaml", minimal, "b.yaml", minimal),
			want:   `catalog: b.yaml: Metadata.AWS::ServiceBroker::Specification.Name: service name "test" is also the name of a.yaml's service`,
		},
		{
			reason: "every file's problems are reported, not only the first",
			fsys: mapFS(
				"a.yaml", withSpec("ParameterDefaults:\n  Size: 'big'\n", "", "Size:\n  Type: Number\n"),
				"b.yaml", strings.Replace(minimal, "Description: The basic plan", "DisplayName: Basic", 1),
			),
			want: `catalog: a.yaml: Metadata.AWS::ServiceBroker::Specification.ServicePlans.basic.ParameterDefaults.Size: "big" is not a number` + "\n" +
				"catalog: b.yaml: Metadata.AWS::ServiceBroker::Specification.ServicePlans.basic.Description: missing: a plan needs a description",
		},
		{
			reason: "a Number's Default must be a number",
			fsys:   mapFS("t.yaml", withSpec("", "", "Size:\n  Type: Number\n  Default: five\n")),
			want:   `catalog: t.yaml: Parameters.Size.Default: "five" is not a number`,
		},
		{
			reason: "a Default must be one of AllowedValues, as CloudFormation demands",
			fsys:   mapFS("t.yaml", withSpec("", "", "Mode:\n  Type: String\n  AllowedValues: [a, b]\n  Default: c\n")),
			want:   `catalog: t.yaml: Parameters.Mode.Default: "c" is not one of AllowedValues`,
		},
		{
			reason: "a fixed value must satisfy the parameter's constraints",
			fsys:   mapFS("t.yaml", withSpec("ParameterValues:\n  Size: 100\n", "", "Size:\n  Type: Number\n  MaxValue: 10\n")),
			want:   `catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification.ServicePlans.basic.ParameterValues.Size: "100" is more than MaxValue 10`,
		},
		{
			reason: "a secret value is never quoted",
			fsys:   mapFS("t.yaml", withSpec("ParameterValues:\n  Password: hunter2\n", "", "Password:\n  Type: String\n  NoEcho: true\n  MinLength: 8\n")),
			want:   `catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification.ServicePlans.basic.ParameterValues.Password: the value is shorter than MinLength 8`,
		},
		{
			reason: "UpdatableParameters must name template parameters",
			fsys:   mapFS("t.yaml", withSpec("", "UpdatableParameters: [Size]\n", "Mode:\n  Type: String\n")),
			want:   `catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification.UpdatableParameters[0]: "Size" is not a template parameter`,
		},
		{
			reason: "a plan cannot both fix and default a parameter",
			fsys:   mapFS("t.yaml", withSpec("ParameterValues:\n  Mode: a\nParameterDefaults:\n  Mode: b\n", "", "Mode:\n  Type: String\n")),
			want:   `catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification.ServicePlans.basic.ParameterDefaults.Mode: the plan also fixes this parameter in ParameterValues`,
		},
		{
			reason: "CloudFormation rejects unknown parameter properties, so a typo is caught here",
			fsys:   mapFS("t.yaml", withSpec("", "", "Mode:\n  Type: String\n  Defualt: a\n")),
			want:   `catalog: t.yaml: Parameters.Mode.Defualt: not a parameter property CloudFormation knows`,
		},
		{
			reason: "a parameter needs a known type",
			fsys:   mapFS("t.yaml", withSpec("", "", "Mode:\n  Type: Integer\n")),
			want:   `catalog: t.yaml: Parameters.Mode.Type: "Integer" is not a CloudFormation parameter type`,
		},
		{
			reason: "a parameter whose declaration is wrong is reported once, not again where a plan names it",
			fsys:   mapFS("t.yaml", withSpec("ParameterValues:\n  Mode: a\n", "UpdatableParameters: [Mode]\n", "Mode:\n  Type: Integer\n")),
			want:   `catalog: t.yaml: Parameters.Mode.Type: "Integer" is not a CloudFormation parameter type`,
		},
		{
			reason: "an empty specification is not a missing one",
			fsys:   mapFS("t.yaml", "Metadata:\n  AWS::ServiceBroker::Specification:\nResources: {}\n"),
			want:   `catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification: must not be empty`,
		},
		{
			reason: "a service needs plans",
			fsys:   mapFS("t.yaml", strings.Replace(minimal, "    ServicePlans:\n      basic:\n        Description: The basic plan\n", "", 1)),
			want:   `catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification.ServicePlans: missing`,
		},
		{
			reason: "a service needs a name",
			fsys:   mapFS("t.yaml", strings.Replace(minimal, "    Name: test\n", "", 1)),
			want:   `catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification.Name: missing`,
		},
		{
			reason: "a template needs Resources",
			fsys:   mapFS("t.yaml", strings.Replace(minimal, "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n", "", 1)),
			want:   `catalog: t.yaml: Resources: missing`,
		},
		{
			reason: "YAML that does not parse names the file",
			fsys:   mapFS("t.yaml", "Metadata: [\n"),
			want:   `catalog: t.yaml: not valid YAML: yaml: line 2: did not find expected node content`,
		},
		{
			reason: "JSON that does not parse names the file and line",
			fsys:   mapFS("t.json", "{\n  \"Metadata\": {,\n}"),
			want:   `catalog: t.json: not valid JSON: line 2: invalid character ','`,
		},
		{
			reason: "CloudFormation does not support YAML aliases",
			fsys:   mapFS("t.yaml", minimal+"Outputs:\n  A: &a\n    Value: x\n  B: *a\n"),
			want:   `catalog: t.yaml: line 14: YAML aliases (*a) are not supported by CloudFormation`,
		},
		{
			reason: "a tag that is no intrinsic function is an error",
			fsys:   mapFS("t.yaml", minimal+"Outputs:\n  A:\n    Value: !Reff Queue\n"),
			want:   `catalog: t.yaml: line 13: unknown tag !Reff (CloudFormation's short forms are !Ref, !GetAtt, !Sub, !If and the other intrinsic functions)`,
		},
		{
			reason: "a body CloudFormation would refuse is refused here",
			fsys:   mapFS("t.yaml", big),
			want:   `catalog: t.yaml: the template is 51421 bytes, more than the 51200 CloudFormation accepts as a template body`,
		},
		{
			reason: "an empty directory is a mistake, not an empty catalog",
			fsys:   fstest.MapFS{"README.md": {Data: []byte("hi")}},
			want:   `catalog: no templates (*.yaml, *.yml or *.json files) in the directory`,
		},
		{
			reason: "an ID override that names nothing is a typo",
			fsys:   mapFS("t.yaml", minimal),
			opts:   catalog.TemplateOptions{IDs: map[string]string{"test/basc": "x"}},
			want:   `catalog: TemplateOptions.IDs["test/basc"]: names no service or plan of the templates (keys are "service" or "service/plan")`,
		},
		{
			reason: "overrides cannot give two plans one ID",
			fsys:   mapFS("t.yaml", minimal),
			opts:   catalog.TemplateOptions{IDs: map[string]string{"test": "same", "test/basic": "same"}},
			want:   `catalog: t.yaml: (catalog) plans[0] ("basic").id: "same" is already used by services[0] ("test")`,
		},
		{
			reason: "MinLength must be a non-negative integer",
			fsys:   mapFS("t.yaml", withSpec("", "", "Mode:\n  Type: String\n  MinLength: '1.5'\n")),
			want:   `catalog: t.yaml: Parameters.Mode.MinLength: "1.5" is not a non-negative integer`,
		},
		{
			reason: "a transform op typo names the file and the field",
			fsys:   mapFS("t.yaml", withSpec("", "Credentials:\n  Transforms:\n    - {Op: remove, Key: a}\n    - {Op: rname, Key: b, To: c}\n", "")),
			want:   `catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification.Credentials.Transforms[1].Op: "rname" is not rename, add or remove`,
		},
		{
			reason: "Credentials is brokerkit's own, so an unknown key in it is a typo, not another broker's key",
			fsys:   mapFS("t.yaml", withSpec("", "Credentials:\n  Lifetme: 720h\n  Transforms:\n    - {Op: remove, Key: a, Too: b}\n", "")),
			want: "catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification.Credentials.Lifetme: unknown key (Credentials has Mapping, Type, Provider, Lifetime and Transforms)\n" +
				"catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification.Credentials.Transforms[0].Too: unknown key (a transform has Op, Key, To, Value and Template)",
		},
		{
			reason: "a lifetime is a Go duration, which has no days",
			fsys:   mapFS("t.yaml", withSpec("", "Credentials:\n  Lifetime: 30d\n", "")),
			want:   `catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification.Credentials.Lifetime: "30d" is not a duration such as "720h" or "90m"`,
		},
		{
			reason: "a lifetime cannot be negative",
			fsys:   mapFS("t.yaml", withSpec("", "Credentials:\n  Lifetime: -1h\n", "")),
			want:   `catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification.Credentials.Lifetime: duration "-1h" must not be negative`,
		},
		{
			reason: "an unreadable transform or field is reported once, not again as empty",
			fsys:   mapFS("t.yaml", withSpec("", "Credentials:\n  Transforms:\n    - rename\n    - {Op: remove, Key: [a]}\n", "")),
			want: "catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification.Credentials.Transforms[0]: must be a mapping with Op and Key, not a scalar\n" +
				"catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification.Credentials.Transforms[1].Key: must be a plain value, not a list",
		},
		{
			reason: "Transforms is a list",
			fsys:   mapFS("t.yaml", withSpec("", "Credentials:\n  Transforms: {Op: remove, Key: a}\n", "")),
			want:   `catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification.Credentials.Transforms: must be a list, not a mapping`,
		},
		{
			reason: "Credentials is a mapping",
			fsys:   mapFS("t.yaml", withSpec("", "Credentials: servicebinding\n", "")),
			want:   `catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification.Credentials: must be a mapping, not a scalar`,
		},
		{
			reason: "OutputsAsIs and a Mapping that renames contradict each other",
			fsys:   mapFS("t.yaml", withSpec("", "OutputsAsIs: true\nCredentials:\n  Mapping: servicebinding\n", "")),
			want:   `catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification.Credentials.Mapping: "servicebinding" contradicts Metadata.AWS::ServiceBroker::Specification.OutputsAsIs, which is true (as-is)`,
		},
		{
			reason: "every rule of Catalog.Validate applies, with the specification's field names",
			fsys: mapFS("t.yaml", withSpec("", "Credentials:\n  Mapping: camel\n  Type: SQS\n  Transforms:\n"+
				"    - {Op: add, Key: uri, Template: '{{.host'}\n    - {Op: rename, Key: a}\n    - {Op: add, Key: b}\n", "")),
			want: "catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification.Credentials.Mapping: \"camel\" is not as-is, screaming-snake or servicebinding\n" +
				"catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification.Credentials.Type: \"SQS\" must be lower case: use only a-z, 0-9, hyphens and periods\n" +
				"catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification.Credentials.Transforms[0].Template: does not parse: template: uri:1: unclosed action\n" +
				"catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification.Credentials.Transforms[1].To: must not be empty: a rename needs the new key\n" +
				"catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification.Credentials.Transforms[2]: add needs exactly one of Value and Template, got neither",
		},
		{
			reason: "costs must be numbers",
			fsys:   mapFS("t.yaml", withSpec("Costs:\n  - Amount: {usd: cheap}\n    Unit: MONTHLY\n", "", "")),
			want:   `catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification.ServicePlans.basic.Costs[0].Amount.usd: "cheap" is not a number`,
		},
	} {
		t.Run(tt.reason, func(t *testing.T) {
			t.Parallel()
			set, err := catalog.LoadTemplates(tt.fsys, tt.opts)
			if err == nil {
				t.Fatalf("no error; catalog %+v", set.Catalog)
			}
			if set != nil {
				t.Error("a TemplateSet came with the error")
			}
			var te catalog.TemplateErrors
			if !errors.As(err, &te) {
				t.Errorf("error %T is not TemplateErrors", err)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLoadTemplatesWarnings checks the problems that do not stop a load.
func TestLoadTemplatesWarnings(t *testing.T) {
	t.Parallel()
	set, err := catalog.LoadTemplates(mapFS("t.yaml", withSpec("Bogus: 1\n", "BindViaLambda: true\n",
		"Name:\n  Type: String\n  Default: db\n  AllowedPattern: '^(?!mysql$)[a-z]*$'\n")), catalog.TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`catalog: t.yaml: Parameters.Name.AllowedPattern: is not RE2 syntax (error parsing regexp: invalid or unsupported Perl syntax: ` + "`(?!`" + `), so it is left out of the schema; CloudFormation still checks it`,
		`catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification.BindViaLambda: the AWS Service Broker's BindViaLambda mode is not supported, ignored`,
		`catalog: t.yaml: Metadata.AWS::ServiceBroker::Specification.ServicePlans.basic.Bogus: unknown key, ignored`,
	}
	if diff := cmp.Diff(want, set.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	prop := set.Catalog.Services[0].Plans[0].InstanceCreateSchema()["properties"].(map[string]any)["Name"].(map[string]any)
	if _, ok := prop["pattern"]; ok {
		t.Errorf("a pattern that is not RE2 reached the schema: %v", prop)
	}
}

// shortTags uses every short-form intrinsic function.
const shortTags = `AWSTemplateFormatVersion: 2010-09-09
Description: Every short tag
Transform: AWS::Serverless-2016-10-31
Metadata:
  AWS::ServiceBroker::Specification:
    Name: tags
    ServicePlans:
      basic:
        Description: Basic
Parameters:
  Env:
    Type: String
    Default: dev
Mappings:
  M:
    dev: {Size: 1}
Conditions:
  IsDev: !Equals [!Ref Env, dev]
  NotDev: !Not [!Condition IsDev]
  Both: !And [!Condition IsDev, !Or [!Condition IsDev, !Condition NotDev]]
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      RoleName: !Sub '${AWS::StackName}-role'
      AssumeRolePolicyDocument: {}
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Join ['-', [!Select [0, !Split [',', 'a,b']], !FindInMap [M, !Ref Env, Size]]]
      Tags:
        - {Key: az, Value: !Select [0, !GetAZs '']}
        - {Key: cidr, Value: !Select [0, !Cidr ['10.0.0.0/16', 2, 8]]}
        - {Key: b64, Value: !Base64 x}
        - {Key: imp, Value: !ImportValue other}
        - {Key: if, Value: !If [IsDev, a, b]}
        - {Key: arn, Value: !GetAtt Role.Arn}
Outputs:
  QueueURL:
    Value: !Ref Queue
  RoleArn:
    Value: !GetAtt [Role, Arn]
`

// TestLoadTemplatesShortTagsAndCapabilities checks that CloudFormation's
// YAML parses and that capabilities follow the resources.
func TestLoadTemplatesShortTagsAndCapabilities(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		reason string
		body   string
		want   []string
	}{
		{"a named IAM role and a Transform", shortTags, []string{"CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"}},
		{"an IAM resource without a custom name", strings.Replace(strings.Replace(shortTags, "      RoleName: !Sub '${AWS::StackName}-role'\n", "", 1), "Transform: AWS::Serverless-2016-10-31\n", "", 1), []string{"CAPABILITY_IAM"}},
		{"no IAM resource", minimal, nil},
		{"a macro through Fn::Transform", strings.Replace(minimal, "    Type: AWS::SQS::Queue\n", "    Type: AWS::SQS::Queue\n    Properties:\n      Fn::Transform: {Name: M}\n", 1), []string{"CAPABILITY_AUTO_EXPAND"}},
	} {
		set, err := catalog.LoadTemplates(mapFS("t.yaml", tt.body), catalog.TemplateOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tt.reason, err)
		}
		tp := set.Templates[set.Catalog.Services[0].Plans[0].ID]
		if diff := cmp.Diff(tt.want, tp.Capabilities); diff != "" {
			t.Errorf("%s: capabilities (-want +got):\n%s", tt.reason, diff)
		}
	}
}

// TestLoadTemplatesJSON checks that a JSON template gives the same
// service and plan information as the same template in YAML.
func TestLoadTemplatesJSON(t *testing.T) {
	t.Parallel()
	yml := withSpec("DisplayName: Basic\nCost: Free tier\nParameterDefaults:\n  Size: 3\nCosts:\n  - Amount: {usd: 0.5}\n    Unit: MONTHLY\nBullets: [fast]\n",
		"Tags: [a, b]\nUpdatableParameters: [Size]\nOutputsAsIs: true\nDisplayName: Test\nSupportUrl: https://example.com/support\n",
		"Size:\n  Type: Number\n  Default: 1\n  MinValue: 1\n  MaxValue: 10\nList:\n  Type: CommaDelimitedList\n  Default: a,b\nSecret:\n  Type: String\n  NoEcho: 'True'\n")
	jsn := `{
  "Description": "A test service",
  "Metadata": {
    "AWS::ServiceBroker::Specification": {
      "Name": "test",
      "ServicePlans": {
        "basic": {
          "Description": "The basic plan",
          "DisplayName": "Basic", "Cost": "Free tier",
          "ParameterDefaults": {"Size": 3},
          "Costs": [{"Amount": {"usd": 0.5}, "Unit": "MONTHLY"}],
          "Bullets": ["fast"]
        }
      },
      "Tags": ["a", "b"], "UpdatableParameters": ["Size"], "OutputsAsIs": true,
      "DisplayName": "Test", "SupportUrl": "https://example.com/support"
    }
  },
  "Parameters": {
    "Size": {"Type": "Number", "Default": 1, "MinValue": 1, "MaxValue": 10},
    "List": {"Type": "CommaDelimitedList", "Default": "a,b"},
    "Secret": {"Type": "String", "NoEcho": "True"}
  },
  "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}
}`
	fromYAML, err := catalog.LoadTemplates(mapFS("t.yaml", yml), catalog.TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := catalog.LoadTemplates(mapFS("t.json", jsn), catalog.TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(jsonOf(t, fromYAML.Catalog), jsonOf(t, fromJSON.Catalog)); diff != "" {
		t.Errorf("catalog from YAML (-) and JSON (+):\n%s", diff)
	}
	ty, tj := fromYAML.Templates[fromYAML.Catalog.Services[0].Plans[0].ID], fromJSON.Templates[fromJSON.Catalog.Services[0].Plans[0].ID]
	ty.Body, tj.Body, ty.ID, tj.ID, ty.File, tj.File = "", "", "", "", "", ""
	if diff := cmp.Diff(ty, tj); diff != "" {
		t.Errorf("template from YAML (-) and JSON (+):\n%s", diff)
	}

	p := fromJSON.Catalog.Services[0].Plans[0]
	wantMeta := map[string]any{
		"displayName": "Basic", "cost": "Free tier", "bullets": []any{"fast"},
		"costs": []any{map[string]any{"amount": map[string]any{"usd": 0.5}, "unit": "MONTHLY"}},
	}
	if diff := cmp.Diff(wantMeta, jsonOf(t, p.Metadata)); diff != "" {
		t.Errorf("plan metadata (-want +got):\n%s", diff)
	}
	if got := p.SecretParameters(); !slices.Equal(got, []string{"Secret"}) {
		t.Errorf("SecretParameters = %v, want [Secret]", got)
	}
	if !tj.OutputsAsIs || !slices.Equal(tj.UpdatableParameters, []string{"Size"}) || tj.DefaultParameters["Size"] != "3" {
		t.Errorf("template %+v", tj)
	}
}

// jsonOf returns v as encoding/json decodes its JSON form.
func jsonOf(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLoadTemplatesNames checks that names become CLI-friendly and that
// only template files are read.
func TestLoadTemplatesNames(t *testing.T) {
	t.Parallel()
	body := strings.Replace(strings.Replace(minimal, "Name: test", "Name: my_service", 1), "basic:", "Basic Plan:", 1)
	set, err := catalog.LoadTemplates(fstest.MapFS{
		"t.YML":          {Data: []byte(body)},
		".hidden.yaml":   {Data: []byte("not: [valid")},
		"README.md":      {Data: []byte("# templates")},
		"sub/other.yaml": {Data: []byte("not: [valid")},
	}, catalog.TemplateOptions{Bindable: catalog.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	s := set.Catalog.Services[0]
	if s.Name != "my-service" || s.Plans[0].Name != "Basic-Plan" || s.Bindable {
		t.Errorf("service %q bindable %v, plan %q", s.Name, s.Bindable, s.Plans[0].Name)
	}
	if s.Description != "A test service" {
		t.Errorf("description %q: the Quick Start tag should be gone", s.Description)
	}
	if len(set.Warnings) != 2 {
		t.Errorf("warnings %q, want one per renamed name", set.Warnings)
	}
	if tp := set.Templates[s.Plans[0].ID]; tp.ServiceName != "my-service" || tp.PlanName != "Basic-Plan" || tp.File != "t.YML" {
		t.Errorf("template names %q %q %q", tp.File, tp.ServiceName, tp.PlanName)
	}
}

// TestLoadTemplatesCredentials checks that every service gets a
// Credentials: the specification's own, or the AWS Service Broker's naming.
func TestLoadTemplatesCredentials(t *testing.T) {
	t.Parallel()
	// The example of the LoadTemplates doc comment.
	full := "Credentials:\n" +
		"  Mapping: servicebinding  # as-is, screaming-snake or servicebinding\n" +
		"  Type: sqs                # the servicebinding.io type and provider\n" +
		"  Provider: aws\n" +
		"  Lifetime: 720h           # a Go duration: bindings expire after it\n" +
		"  Transforms:              # applied in order, after the mapping\n" +
		"    - {Op: rename, Key: queue-url, To: uri}\n" +
		"    - {Op: add, Key: region, Value: us-east-1}\n" +
		"    - {Op: add, Key: endpoint, Template: \"{{.uri}}?region={{.region}}\"}\n" +
		"    - {Op: remove, Key: queue-arn}\n"
	fullSpec := &catalog.CredentialsSpec{
		Mapping: catalog.MappingServiceBinding, Type: "sqs", Provider: "aws",
		Lifetime: catalog.Duration(720 * time.Hour),
		Transforms: []catalog.KeyTransform{
			{Op: catalog.OpRename, Key: "queue-url", To: "uri"},
			{Op: catalog.OpAdd, Key: "region", Value: "us-east-1"},
			{Op: catalog.OpAdd, Key: "endpoint", Template: "{{.uri}}?region={{.region}}"},
			{Op: catalog.OpRemove, Key: "queue-arn"},
		},
	}
	for _, tt := range []struct {
		reason  string
		file    string
		body    string
		want    *catalog.CredentialsSpec
		mapping string // TemplateOptions.Mapping
	}{
		{"without Credentials, the output names as they are", "t.yaml", withSpec("", "", ""),
			&catalog.CredentialsSpec{Mapping: catalog.MappingAsIs}, ""},
		{"without Credentials, the broker's default mapping", "t.yaml", withSpec("", "", ""),
			&catalog.CredentialsSpec{Mapping: catalog.MappingScreamingSnake}, catalog.MappingScreamingSnake},
		{"without Credentials, OutputsAsIs keeps the names whatever the default", "t.yaml", withSpec("", "OutputsAsIs: true\n", ""),
			&catalog.CredentialsSpec{Mapping: catalog.MappingAsIs}, catalog.MappingScreamingSnake},
		{"an empty Credentials is an absent one", "t.yaml", withSpec("", "Credentials:\n", ""),
			&catalog.CredentialsSpec{Mapping: catalog.MappingScreamingSnake}, catalog.MappingScreamingSnake},
		{"a Lifetime alone does not change the naming", "t.yaml", withSpec("", "Credentials:\n  Lifetime: 1h30m\n", ""),
			&catalog.CredentialsSpec{Mapping: catalog.MappingScreamingSnake, Lifetime: catalog.Duration(90 * time.Minute)}, catalog.MappingScreamingSnake},
		{"OutputsAsIs with the same Mapping is no contradiction", "t.yaml", withSpec("", "OutputsAsIs: true\nCredentials:\n  Mapping: as-is\n", ""),
			&catalog.CredentialsSpec{Mapping: catalog.MappingAsIs}, ""},
		{"every key", "t.yaml", withSpec("", full, ""), fullSpec, catalog.MappingScreamingSnake},
		{"every key, in JSON", "t.json", `{
  "Description": "A test service",
  "Metadata": {"AWS::ServiceBroker::Specification": {
    "Name": "test",
    "ServicePlans": {"basic": {"Description": "The basic plan"}},
    "Credentials": {
      "Mapping": "servicebinding", "Type": "sqs", "Provider": "aws", "Lifetime": "720h",
      "Transforms": [
        {"Op": "rename", "Key": "queue-url", "To": "uri"},
        {"Op": "add", "Key": "region", "Value": "us-east-1"},
        {"Op": "add", "Key": "endpoint", "Template": "{{.uri}}?region={{.region}}"},
        {"Op": "remove", "Key": "queue-arn"}
      ]
    }
  }},
  "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}
}`, fullSpec, ""},
	} {
		set, err := catalog.LoadTemplates(mapFS(tt.file, tt.body), catalog.TemplateOptions{Mapping: tt.mapping})
		if err != nil {
			t.Errorf("%s: %v", tt.reason, err)
			continue
		}
		if len(set.Warnings) > 0 {
			t.Errorf("%s: warnings %q", tt.reason, set.Warnings)
		}
		if diff := cmp.Diff(tt.want, set.Catalog.Services[0].Credentials); diff != "" {
			t.Errorf("%s: Credentials (-want +got):\n%s", tt.reason, diff)
		}
	}
	// Credentials are never sent to platforms.
	set, err := catalog.LoadTemplates(mapFS("t.yaml", withSpec("", full, "")), catalog.TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(set.Catalog)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"credentials", "Credentials", "queue-url", "720h"} {
		if bytes.Contains(body, []byte(s)) {
			t.Errorf("the catalog's JSON contains %q: %s", s, body)
		}
	}
}
