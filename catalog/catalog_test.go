package catalog_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/catalog"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// fullCatalog sets every field of every catalog type. Numbers inside
// Metadata and schemas are float64 and lists are []any, the types
// encoding/json decodes them to, so that the catalog round-trips exactly.
func fullCatalog() catalog.Catalog {
	param := func(desc string) *catalog.InputParameters {
		return &catalog.InputParameters{Parameters: catalog.Schema{
			"$schema": draft04,
			"type":    "object",
			"properties": map[string]any{
				"billing-account": map[string]any{"description": desc, "type": "string"},
			},
		}}
	}
	return catalog.Catalog{Services: []catalog.Service{{
		ID:                   "acb56d7c-0000-0000-0000-feb140a59a66",
		Name:                 "fake-service",
		Description:          "A fake service.",
		Tags:                 []string{"no-sql", "relational"},
		Requires:             []string{catalog.RequiresRouteForwarding},
		Bindable:             true,
		InstancesRetrievable: true,
		BindingsRetrievable:  true,
		AllowContextUpdates:  true,
		Metadata: map[string]any{
			"displayName": "The Fake Service Broker",
			"listing":     map[string]any{"imageUrl": "http://example.com/cat.gif"},
		},
		DashboardClient: &catalog.DashboardClient{
			ID:          "398e2f8e-0000-0000-0000-19a71ecbcf64",
			Secret:      "277cabb0-0000-0000-0000-7822c0a90e5d",
			RedirectURI: "https://dashboard.example.com",
		},
		PlanUpdateable: true,
		Plans: []catalog.Plan{{
			ID:          "d3031751-0000-0000-0000-a42377d3320e",
			Name:        "fake-plan-1",
			Description: "Shared fake Server, 5tb persistent disk, 40 max concurrent connections.",
			Metadata: map[string]any{
				"max_storage_tb": 5.0,
				"costs":          []any{map[string]any{"amount": map[string]any{"usd": 99.0}, "unit": "MONTHLY"}},
				"bullets":        []any{"Shared fake server", "5 TB storage"},
			},
			Free:             catalog.Bool(false),
			Bindable:         catalog.Bool(true),
			BindingRotatable: true,
			PlanUpdateable:   catalog.Bool(false),
			Schemas: &catalog.Schemas{
				ServiceInstance: &catalog.ServiceInstanceSchemas{
					Create: param("Billing account for create."),
					Update: param("Billing account for update."),
				},
				ServiceBinding: &catalog.ServiceBindingSchemas{Create: param("Billing account for bind.")},
			},
			MaximumPollingDuration: 3600,
			MaintenanceInfo:        &catalog.MaintenanceInfo{Version: "2.1.1+abcdef", Description: "OS image update.\nExpect downtime."},
		}},
	}}}
}

func TestFullCatalogRoundTrip(t *testing.T) {
	t.Parallel()
	c := fullCatalog()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() = %v, want nil", err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	var got catalog.Catalog
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, got); diff != "" {
		t.Errorf("catalog changed in a JSON round trip (-want +got):\n%s", diff)
	}

	golden := filepath.Join("testdata", "full_catalog.golden.json")
	b = append(b, '\n')
	if *update {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(b)); diff != "" {
		t.Errorf("JSON differs from %s (-want +got):\n%s", golden, diff)
	}
}

// TestFullCatalogKeys checks that the JSON field names are exactly the
// spec's (spec.md §Catalog Management and profile.md's dashboard_client),
// and that fullCatalog sets them all.
func TestFullCatalogKeys(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(fullCatalog())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var got []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				p := prefix + "." + k
				got = append(got, strings.TrimPrefix(p, "."))
				// Metadata and schemas are opaque: their keys are not the
				// catalog's.
				if k != "metadata" && k != "parameters" {
					walk(p, e)
				}
			}
		case []any:
			for _, e := range v {
				walk(prefix+"[]", e)
			}
		}
	}
	walk("", doc)
	slices.Sort(got)
	got = slices.Compact(got)
	want := []string{
		"services",
		"services[].allow_context_updates",
		"services[].bindable",
		"services[].bindings_retrievable",
		"services[].dashboard_client",
		"services[].dashboard_client.id",
		"services[].dashboard_client.redirect_uri",
		"services[].dashboard_client.secret",
		"services[].description",
		"services[].id",
		"services[].instances_retrievable",
		"services[].metadata",
		"services[].name",
		"services[].plan_updateable",
		"services[].plans",
		"services[].plans[].bindable",
		"services[].plans[].binding_rotatable",
		"services[].plans[].description",
		"services[].plans[].free",
		"services[].plans[].id",
		"services[].plans[].maintenance_info",
		"services[].plans[].maintenance_info.description",
		"services[].plans[].maintenance_info.version",
		"services[].plans[].maximum_polling_duration",
		"services[].plans[].metadata",
		"services[].plans[].name",
		"services[].plans[].plan_updateable",
		"services[].plans[].schemas",
		"services[].plans[].schemas.service_binding",
		"services[].plans[].schemas.service_binding.create",
		"services[].plans[].schemas.service_binding.create.parameters",
		"services[].plans[].schemas.service_instance",
		"services[].plans[].schemas.service_instance.create",
		"services[].plans[].schemas.service_instance.create.parameters",
		"services[].plans[].schemas.service_instance.update",
		"services[].plans[].schemas.service_instance.update.parameters",
		"services[].requires",
		"services[].tags",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON keys differ from the spec's (-want +got):\n%s", diff)
	}
}

// TestMinimalCatalogJSON checks the fields that are sent even when false
// or empty: services, bindable and plans are REQUIRED by the spec.
func TestMinimalCatalogJSON(t *testing.T) {
	t.Parallel()
	c := catalog.Catalog{Services: []catalog.Service{{ID: "s", Name: "s", Description: "d", Plans: []catalog.Plan{{ID: "p", Name: "p", Description: "d"}}}}}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"services":[{"id":"s","name":"s","description":"d","bindable":false,"plans":[{"id":"p","name":"p","description":"d"}]}]}`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("JSON mismatch (-want +got):\n%s", diff)
	}
	x, err := catalog.NewIndex(catalog.Catalog{})
	if err != nil {
		t.Fatal(err)
	}
	b, err = json.Marshal(x.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, []byte(`{"services":[]}`)) {
		t.Errorf("empty Index catalog JSON = %s, want {\"services\":[]}", b)
	}
}

func TestBoolHelpers(t *testing.T) {
	t.Parallel()
	s := catalog.Service{Bindable: true, PlanUpdateable: false}
	tests := []struct {
		name                string
		plan                *catalog.Plan
		bindable, updatable bool
		free                bool
	}{
		{"defaults", &catalog.Plan{}, true, false, true},
		{"overrides", &catalog.Plan{Bindable: catalog.Bool(false), PlanUpdateable: catalog.Bool(true), Free: catalog.Bool(false)}, false, true, false},
	}
	for _, tc := range tests {
		got := []bool{s.IsBindable(tc.plan), s.IsPlanUpdateable(tc.plan), tc.plan.IsFree()}
		if diff := cmp.Diff([]bool{tc.bindable, tc.updatable, tc.free}, got); diff != "" {
			t.Errorf("%s: [IsBindable IsPlanUpdateable IsFree] mismatch (-want +got):\n%s", tc.name, diff)
		}
	}
}
