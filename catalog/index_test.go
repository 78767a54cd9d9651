package catalog_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/internal/canary"
)

// paramsCatalog has one plan with a schema of every kind, each in another
// draft, a plan without schemas, and a plan with a bound beyond float64
// precision.
func paramsCatalog() catalog.Catalog {
	all := catalog.Plan{ID: "p-all", Name: "all", Description: "every schema"}
	withSchema(&all, catalog.InstanceCreate, catalog.Schema{
		"$schema": draft04,
		"type":    "object",
		"properties": map[string]any{
			"queue_name": map[string]any{"type": "string", "pattern": "^[a-z-]+$", "maxLength": 80},
			"retention":  map[string]any{"type": "integer", "minimum": 60, "maximum": 1209600},
			"min_size":   map[string]any{"type": "number", "minimum": 1.5, "exclusiveMinimum": true},
			"tier":       map[string]any{"enum": []any{"basic", "premium"}},
			"a/b":        map[string]any{"type": "object", "required": []any{"c~d"}},
		},
		"required":             []any{"queue_name"},
		"additionalProperties": false,
	})
	withSchema(&all, catalog.InstanceUpdate, catalog.Schema{
		"$schema": draft20,
		"type":    "object",
		"properties": map[string]any{
			"retention": map[string]any{"type": "integer", "exclusiveMinimum": 59},
			"tags":      map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "maxItems": 2, "uniqueItems": true},
			"email":     map[string]any{"type": "string", "format": "email"},
			"labels":    map[string]any{"type": "object", "propertyNames": map[string]any{"pattern": "^[a-z]+$"}},
		},
		"additionalProperties": false,
	})
	withSchema(&all, catalog.BindingCreate, catalog.Schema{
		"$schema": draft07,
		"type":    "object",
		"properties": map[string]any{
			"role": map[string]any{"const": "reader"},
			"ttl":  map[string]any{"type": "integer", "multipleOf": 60},
		},
		"required": []any{"role"},
	})
	bigPlan := catalog.Plan{ID: "p-big", Name: "big", Description: "a large bound"}
	withSchema(&bigPlan, catalog.InstanceCreate, catalog.Schema{
		"$schema":    draft20,
		"properties": map[string]any{"n": map[string]any{"type": "integer", "maximum": json.Number("9007199254740993")}},
	})
	return catalog.Catalog{Services: []catalog.Service{{
		ID: "svc", Name: "svc", Description: "a service", Bindable: true,
		Plans: []catalog.Plan{all, {ID: "p-none", Name: "none", Description: "no schemas"}, bigPlan},
	}}}
}

func mustIndex(t testing.TB, c catalog.Catalog) *catalog.Index {
	t.Helper()
	x, err := catalog.NewIndex(c)
	if err != nil {
		t.Fatalf("NewIndex() = %v", err)
	}
	return x
}

func TestValidateParameters(t *testing.T) {
	t.Parallel()
	x := mustIndex(t, paramsCatalog())
	type pp = catalog.ParameterProblem
	tests := []struct {
		name   string
		reason string
		plan   string
		kind   catalog.SchemaKind
		params string
		want   []pp // nil: valid
	}{
		{name: "valid create", reason: "draft-04 schema satisfied", plan: "p-all", kind: catalog.InstanceCreate,
			params: `{"queue_name":"orders","retention":3600,"min_size":2,"tier":"basic"}`},
		{name: "nil", reason: "absent parameters are not checked, even against required", plan: "p-all", kind: catalog.InstanceCreate, params: ""},
		{name: "white space", reason: "white space is absent parameters", plan: "p-all", kind: catalog.InstanceCreate, params: " \n\t"},
		{name: "null", reason: "JSON null is absent parameters", plan: "p-all", kind: catalog.InstanceCreate, params: " null "},
		{name: "empty object", reason: "present parameters are checked: {} misses required properties", plan: "p-all", kind: catalog.InstanceCreate,
			params: `{}`, want: []pp{{"/queue_name", "missing property"}}},
		{name: "draft-04 rules", reason: "each failure is its own problem, sorted by field", plan: "p-all", kind: catalog.InstanceCreate,
			params: `{"retention":59,"min_size":1.5,"tier":"gold","extra":1,"more":{}}`,
			want: []pp{
				{"/extra", "property not allowed"},
				{"/min_size", "must be > 1.5"},
				{"/more", "property not allowed"},
				{"/queue_name", "missing property"},
				{"/retention", "must be >= 60"},
				{"/tier", `must be one of "basic", "premium"`},
			}},
		{name: "types", reason: "type errors name the JSON types only", plan: "p-all", kind: catalog.InstanceCreate,
			params: `{"queue_name":7,"retention":"long","a/b":[]}`,
			want: []pp{
				{"/a~1b", "must be object, got array"},
				{"/queue_name", "must be string, got number"},
				{"/retention", "must be integer, got string"},
			}},
		{name: "pattern and length", reason: "pattern and maxLength print the schema's rule", plan: "p-all", kind: catalog.InstanceCreate,
			params: `{"queue_name":"` + strings.Repeat("A", 81) + `","retention":1209601}`,
			want: []pp{
				{"/queue_name", "must be at most 80 characters long"},
				{"/queue_name", `must match pattern "^[a-z-]+$"`},
				{"/retention", "must be <= 1209600"},
			}},
		{name: "escaped pointers", reason: "fields are RFC 6901 pointers", plan: "p-all", kind: catalog.InstanceCreate,
			params: `{"queue_name":"q","a/b":{}}`, want: []pp{{"/a~1b/c~0d", "missing property"}}},
		{name: "not an object", reason: "parameters must be a JSON object", plan: "p-all", kind: catalog.InstanceCreate,
			params: `[1,2]`, want: []pp{{"", "must be object, got array"}}},
		{name: "string", reason: "parameters must be a JSON object", plan: "p-all", kind: catalog.InstanceUpdate,
			params: `"hunter2-SECRET"`, want: []pp{{"", "must be object, got string"}}},
		{name: "invalid JSON", reason: "a syntax error is reported without quoting the input", plan: "p-all", kind: catalog.InstanceCreate,
			params: `{"password": hunter2-SECRET}`, want: []pp{{"", "is not valid JSON"}}},
		{name: "trailing data", reason: "one JSON value only", plan: "p-all", kind: catalog.InstanceCreate,
			params: `{"queue_name":"q"} {}`, want: []pp{{"", "is not valid JSON"}}},
		{name: "no schema accepts any object", reason: "a plan without that schema accepts any object", plan: "p-none", kind: catalog.InstanceCreate,
			params: `{"anything":[1,{"x":null}]}`},
		{name: "no schema still wants an object", reason: "parameters are a JSON object even without a schema", plan: "p-none", kind: catalog.BindingCreate,
			params: `true`, want: []pp{{"", "must be object, got boolean"}}},
		{name: "no update schema", reason: "p-big has only a create schema", plan: "p-big", kind: catalog.InstanceUpdate, params: `{"n":"x"}`},
		{name: "valid update", reason: "2020-12 schema satisfied", plan: "p-all", kind: catalog.InstanceUpdate,
			params: `{"retention":60,"tags":["a","b"],"email":"ops@example.com"}`},
		{name: "2020-12 rules", reason: "exclusiveMinimum as a number, array rules, format asserted in 2020-12", plan: "p-all", kind: catalog.InstanceUpdate,
			params: `{"retention":59,"tags":["a","a","b"],"email":"not-an-email","queue_name":"q"}`,
			want: []pp{
				{"/email", `must match format "email"`},
				{"/queue_name", "property not allowed"},
				{"/retention", "must be > 59"},
				{"/tags", "must have at most 2 items"},
				{"/tags", "must not contain duplicates (items 0 and 1 are equal)"},
			}},
		{name: "property names", reason: "propertyNames failures point at the offending key, whatever the siblings", plan: "p-all", kind: catalog.InstanceUpdate,
			params: `{"labels":{"ok":1,"NOT-OK":2},"retention":60,"tags":["a"],"email":"a@example.com"}`,
			want:   []pp{{"/labels/NOT-OK", `property name does not match "propertyNames"`}}},
		{name: "array item type", reason: "fields point into arrays", plan: "p-all", kind: catalog.InstanceUpdate,
			params: `{"tags":["a",3]}`, want: []pp{{"/tags/1", "must be string, got number"}}},
		{name: "valid bind", reason: "draft-07 schema satisfied", plan: "p-all", kind: catalog.BindingCreate, params: `{"role":"reader","ttl":120}`},
		{name: "draft-07 rules", reason: "const and multipleOf", plan: "p-all", kind: catalog.BindingCreate,
			params: `{"role":"admin","ttl":90}`,
			want:   []pp{{"/role", `must be "reader"`}, {"/ttl", "must be a multiple of 60"}}},
		{name: "large integer at the bound", reason: "numbers are compared exactly, beyond float64 precision", plan: "p-big", kind: catalog.InstanceCreate,
			params: `{"n":9007199254740993}`},
		{name: "large integer over the bound", reason: "as float64, 9007199254740994 would equal the bound", plan: "p-big", kind: catalog.InstanceCreate,
			params: `{"n":9007199254740994}`, want: []pp{{"/n", "must be <= 9007199254740993"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var params json.RawMessage
			if tc.params != "" {
				params = json.RawMessage(tc.params)
			}
			err := x.ValidateParameters(tc.plan, tc.kind, params)
			var got []pp
			if err != nil {
				var pe *catalog.ParameterError
				if !errors.As(err, &pe) {
					t.Fatalf("ValidateParameters() = %v (%T), want *catalog.ParameterError", err, err)
				}
				if pe.Kind != tc.kind {
					t.Errorf("ParameterError.Kind = %v, want %v", pe.Kind, tc.kind)
				}
				got = pe.Problems
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s\nValidateParameters() problems mismatch (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}

func TestParameterErrorText(t *testing.T) {
	t.Parallel()
	x := mustIndex(t, paramsCatalog())
	err := x.ValidateParameters("p-all", catalog.InstanceCreate, json.RawMessage(`{"retention":30}`))
	want := "parameters do not match the plan's service_instance.create schema: /queue_name: missing property; /retention: must be >= 60"
	if err == nil || err.Error() != want {
		t.Errorf("ValidateParameters() = %v, want %s", err, want)
	}
	err = x.ValidateParameters("p-all", catalog.BindingCreate, json.RawMessage(`[]`))
	want = "parameters do not match the plan's service_binding.create schema: (root): must be object, got array"
	if err == nil || err.Error() != want {
		t.Errorf("ValidateParameters() = %v, want %s", err, want)
	}
}

func TestValidateParametersOtherErrors(t *testing.T) {
	t.Parallel()
	x := mustIndex(t, paramsCatalog())
	err := x.ValidateParameters("nope", catalog.InstanceCreate, nil)
	if !errors.Is(err, catalog.ErrUnknownPlan) {
		t.Errorf("unknown plan: ValidateParameters() = %v, want ErrUnknownPlan", err)
	}
	if got, want := fmt.Sprint(err), `catalog: unknown plan "nope"`; got != want {
		t.Errorf("unknown plan: error text = %q, want %q", got, want)
	}
	err = x.ValidateParameters("svc", catalog.InstanceCreate, nil)
	if !errors.Is(err, catalog.ErrUnknownPlan) {
		t.Errorf("service id as plan id: ValidateParameters() = %v, want ErrUnknownPlan", err)
	}
	for _, k := range []catalog.SchemaKind{0, 4, -1} {
		err := x.ValidateParameters("p-all", k, json.RawMessage(`{}`))
		var pe *catalog.ParameterError
		if err == nil || errors.As(err, &pe) || errors.Is(err, catalog.ErrUnknownPlan) {
			t.Errorf("kind %d: ValidateParameters() = %v, want a plain error", int(k), err)
		}
	}
}

// TestParameterErrorsHideValues proves that no rule quotes the request's
// value: the library's own messages do for pattern, format, enum and
// const.
func TestParameterErrorsHideValues(t *testing.T) {
	t.Parallel()
	secret := canary.Plant(t)
	log := canary.Logger(t)
	for _, draft := range []string{draft04, draft07, draft20} {
		c := catalog.Catalog{Services: []catalog.Service{{ID: "s", Name: "s", Description: "d", Plans: []catalog.Plan{{ID: "p", Name: "p", Description: "d"}}}}}
		withSchema(&c.Services[0].Plans[0], catalog.InstanceCreate, catalog.Schema{
			"$schema": draft,
			"type":    "object",
			"properties": map[string]any{
				"pattern":   map[string]any{"pattern": "^[0-9]+$"},
				"format":    map[string]any{"format": "email"},
				"uri":       map[string]any{"format": "uri"},
				"enum":      map[string]any{"enum": []any{"a", "b"}},
				"enumObj":   map[string]any{"enum": []any{map[string]any{"a": 1}}},
				"const":     map[string]any{"enum": []any{"only"}},
				"maxLength": map[string]any{"maxLength": 3},
				"minLength": map[string]any{"minLength": 30},
				"type":      map[string]any{"type": "integer"},
				"anyOf":     map[string]any{"anyOf": []any{map[string]any{"pattern": "^x"}, map[string]any{"maxLength": 1}}},
				"oneOf":     map[string]any{"oneOf": []any{map[string]any{"pattern": "^x"}, map[string]any{"maxLength": 1}}},
				"not":       map[string]any{"not": map[string]any{"type": "string"}},
				"list":      map[string]any{"uniqueItems": true, "items": map[string]any{"pattern": "^x"}, "maxItems": 1},
			},
			"additionalProperties": map[string]any{"type": "integer", "maxLength": 1},
		})
		x := mustIndex(t, c)
		var b strings.Builder
		b.WriteString("{")
		for _, k := range []string{"pattern", "format", "uri", "enum", "enumObj", "const", "maxLength", "minLength", "type", "anyOf", "oneOf", "not", "other"} {
			fmt.Fprintf(&b, "%q:%q,", k, secret)
		}
		fmt.Fprintf(&b, `"list":[%q,%q]}`, secret, secret)
		err := x.ValidateParameters("p", catalog.InstanceCreate, json.RawMessage(b.String()))
		var pe *catalog.ParameterError
		if !errors.As(err, &pe) || len(pe.Problems) < 13 {
			t.Fatalf("%s: ValidateParameters() = %v, want a ParameterError with a problem per property", draft, err)
		}
		for _, s := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			log.Info("parameter error", "text", s)
			if strings.Contains(s, secret) {
				t.Errorf("%s: error text contains the secret value: %s", draft, s)
			}
		}
	}
}

func TestIndexLookups(t *testing.T) {
	t.Parallel()
	x := mustIndex(t, baseCatalog())
	cat := x.Catalog()
	tests := []struct {
		id          string
		wantService *catalog.Service
		wantPlanSvc *catalog.Service
		wantPlan    *catalog.Plan
	}{
		{id: "svc-1", wantService: &cat.Services[0]},
		{id: "svc-2", wantService: &cat.Services[1]},
		{id: "plan-1", wantPlanSvc: &cat.Services[0], wantPlan: &cat.Services[0].Plans[0]},
		{id: "plan-2", wantPlanSvc: &cat.Services[0], wantPlan: &cat.Services[0].Plans[1]},
		{id: "plan-3", wantPlanSvc: &cat.Services[1], wantPlan: &cat.Services[1].Plans[0]},
		{id: ""},
		{id: "sqs"},
		{id: "SVC-1"},
	}
	for _, tc := range tests {
		s, ok := x.Service(tc.id)
		if s != tc.wantService || ok != (tc.wantService != nil) {
			t.Errorf("Service(%q) = %p, %v; want %p", tc.id, s, ok, tc.wantService)
		}
		ps, p, ok := x.Plan(tc.id)
		if ps != tc.wantPlanSvc || p != tc.wantPlan || ok != (tc.wantPlan != nil) {
			t.Errorf("Plan(%q) = %p, %p, %v; want %p, %p", tc.id, ps, p, ok, tc.wantPlanSvc, tc.wantPlan)
		}
	}
	if diff := cmp.Diff(baseCatalog(), *cat); diff != "" {
		t.Errorf("Catalog() mismatch (-want +got):\n%s", diff)
	}
}

func TestZeroIndex(t *testing.T) {
	t.Parallel()
	var x catalog.Index
	if _, ok := x.Service("svc-1"); ok {
		t.Error("zero Index: Service found something")
	}
	if _, _, ok := x.Plan("plan-1"); ok {
		t.Error("zero Index: Plan found something")
	}
	if diff := cmp.Diff(&catalog.Catalog{Services: []catalog.Service{}}, x.Catalog()); diff != "" {
		t.Errorf("zero Index: Catalog() mismatch (-want +got):\n%s", diff)
	}
	if err := x.ValidateParameters("plan-1", catalog.InstanceCreate, nil); !errors.Is(err, catalog.ErrUnknownPlan) {
		t.Errorf("zero Index: ValidateParameters() = %v, want ErrUnknownPlan", err)
	}
}

func TestNewIndexCopiesDeeply(t *testing.T) {
	t.Parallel()
	c := fullCatalog()
	withSchema(&c.Services[0].Plans[0], catalog.InstanceCreate, catalog.Schema{
		"$schema":  draft04,
		"type":     "object",
		"required": []any{"name"},
	})
	want := fullCatalog()
	withSchema(&want.Services[0].Plans[0], catalog.InstanceCreate, catalog.Schema{
		"$schema":  draft04,
		"type":     "object",
		"required": []any{"name"},
	})
	x := mustIndex(t, c)

	// Change everything reachable from c.
	s := &c.Services[0]
	p := &s.Plans[0]
	s.Name = "changed"
	s.Tags[0] = "changed"
	s.Requires[0] = "changed"
	s.Metadata["displayName"] = "changed"
	s.Metadata["listing"].(map[string]any)["imageUrl"] = "changed"
	s.DashboardClient.Secret = "changed"
	*p.Free = true
	*p.Bindable = false
	*p.PlanUpdateable = true
	p.Metadata["costs"].([]any)[0].(map[string]any)["unit"] = "changed"
	p.Metadata["bullets"].([]any)[0] = "changed"
	p.MaintenanceInfo.Version = "changed"
	p.Schemas.ServiceInstance.Create.Parameters["required"].([]any)[0] = "changed"
	p.Schemas.ServiceInstance.Update.Parameters["properties"].(map[string]any)["billing-account"] = "changed"
	p.Schemas.ServiceBinding.Create = nil
	s.Plans = append(s.Plans, catalog.Plan{ID: "new"})

	if diff := cmp.Diff(want, *x.Catalog()); diff != "" {
		t.Errorf("Index changed with its input (-want +got):\n%s", diff)
	}
	if _, _, ok := x.Plan("new"); ok {
		t.Error("Plan(\"new\") found a plan added after NewIndex")
	}
	err := x.ValidateParameters(p.ID, catalog.InstanceCreate, json.RawMessage(`{"changed":1}`))
	var pe *catalog.ParameterError
	if !errors.As(err, &pe) || pe.Problems[0].Field != "/name" {
		t.Errorf("ValidateParameters() = %v, want the schema as it was at NewIndex (missing /name)", err)
	}
}

func TestIndexConcurrentUse(t *testing.T) {
	t.Parallel()
	x := mustIndex(t, paramsCatalog())
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 50 {
				params := json.RawMessage(fmt.Sprintf(`{"queue_name":"q","retention":%d}`, 30+i+j))
				err := x.ValidateParameters("p-all", catalog.InstanceCreate, params)
				if (err == nil) != (30+i+j >= 60) {
					t.Errorf("retention %d: ValidateParameters() = %v", 30+i+j, err)
				}
				if _, _, ok := x.Plan("p-all"); !ok {
					t.Error("Plan(p-all) not found")
				}
			}
		})
	}
	wg.Wait()
}

func TestSchemaKindString(t *testing.T) {
	t.Parallel()
	got := []string{catalog.InstanceCreate.String(), catalog.InstanceUpdate.String(), catalog.BindingCreate.String(), catalog.SchemaKind(0).String()}
	want := []string{"service_instance.create", "service_instance.update", "service_binding.create", "SchemaKind(0)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("String() mismatch (-want +got):\n%s", diff)
	}
}

// bigCatalog has 100 services of 10 plans each.
func bigCatalog() catalog.Catalog {
	var c catalog.Catalog
	for i := range 100 {
		s := catalog.Service{ID: fmt.Sprintf("svc-%d", i), Name: fmt.Sprintf("svc-%d", i), Description: "d"}
		for j := range 10 {
			s.Plans = append(s.Plans, catalog.Plan{ID: fmt.Sprintf("plan-%d-%d", i, j), Name: fmt.Sprintf("plan-%d", j), Description: "d"})
		}
		c.Services = append(c.Services, s)
	}
	return c
}

func BenchmarkIndexPlan(b *testing.B) {
	x := mustIndex(b, bigCatalog())
	for b.Loop() {
		if _, _, ok := x.Plan("plan-57-3"); !ok {
			b.Fatal("not found")
		}
	}
}

func BenchmarkValidateParameters(b *testing.B) {
	x := mustIndex(b, paramsCatalog())
	for _, bc := range []struct{ name, params string }{
		{"valid", `{"queue_name":"orders","retention":3600,"min_size":2,"tier":"basic"}`},
		{"invalid", `{"retention":59,"min_size":1.5,"tier":"gold","extra":1}`},
	} {
		params := json.RawMessage(bc.params)
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				_ = x.ValidateParameters("p-all", catalog.InstanceCreate, params)
			}
		})
	}
}

func FuzzValidateParameters(f *testing.F) {
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `"x"`, `1e400`, `{"queue_name":"orders","retention":3600}`,
		`{"retention":59,"tier":"gold","extra":1}`, `{"a/b":{"c~d":1}}`, `{"tags":["a","a","b"],"email":"x"}`,
		`{"role":"admin","ttl":90}`, `{"n":9007199254740994}`, `{"n":1e309}`, `{"queue_name":"\ud800"}`, `{"x":`,
	} {
		for k := range 4 {
			f.Add([]byte(s), uint8(k))
		}
	}
	x := mustIndex(f, paramsCatalog())
	plans := []string{"p-all", "p-none", "p-big"}
	f.Fuzz(func(t *testing.T, params []byte, k uint8) {
		kind := catalog.SchemaKind(k % 4)
		plan := plans[int(k/4)%len(plans)]
		err := x.ValidateParameters(plan, kind, params)
		var pe *catalog.ParameterError
		if errors.As(err, &pe) {
			if len(pe.Problems) == 0 {
				t.Fatalf("ParameterError without problems for %q", params)
			}
			if pe.Error() == "" {
				t.Fatal("empty error text")
			}
		}
	})
}
