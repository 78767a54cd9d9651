package catalog_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/catalog"
)

// TestTemplateSchemas checks each rule that turns a template parameter
// into a JSON Schema property. Every case declares a parameter P (and
// maybe others) and checks P's property in the create and update schemas
// of the plan "basic", and whether P is required.
func TestTemplateSchemas(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		reason     string
		params     string // the Parameters section
		plan       string // extra keys of the plan
		spec       string // extra keys of the specification
		wantCreate any    // P's create property as JSON; nil if absent
		required   bool
		wantUpdate any // P's update property; nil if absent
	}{
		{
			reason:     "a String with a Default is an optional string with that default",
			params:     "P:\n  Type: String\n  Default: x\n",
			wantCreate: map[string]any{"type": "string", "default": "x"},
		},
		{
			reason:     "a parameter without a Default is required",
			params:     "P:\n  Type: String\n",
			wantCreate: map[string]any{"type": "string"},
			required:   true,
		},
		{
			reason:     "an empty Default is a default: the parameter is optional",
			params:     "P:\n  Type: String\n  Default: ''\n",
			wantCreate: map[string]any{"type": "string", "default": ""},
		},
		{
			reason:     "a Number whose values are whole is an integer, and its default a JSON number (5, not \"5\")",
			params:     "P:\n  Type: Number\n  Default: '5'\n",
			wantCreate: map[string]any{"type": "integer", "default": 5.0},
		},
		{
			reason:     "a Number with a fractional bound is a number",
			params:     "P:\n  Type: Number\n  Default: 1\n  MinValue: 0.5\n  MaxValue: '10'\n",
			wantCreate: map[string]any{"type": "number", "default": 1.0, "minimum": 0.5, "maximum": 10.0},
		},
		{
			reason:     "a Number with no value to judge by is a number",
			params:     "P:\n  Type: Number\n",
			wantCreate: map[string]any{"type": "number"},
			required:   true,
		},
		{
			reason:     "AllowedValues of a Number is an enum of numbers",
			params:     "P:\n  Type: Number\n  AllowedValues: ['1', 2, '30']\n  Default: 2\n",
			wantCreate: map[string]any{"type": "integer", "enum": []any{1.0, 2.0, 30.0}, "default": 2.0},
		},
		{
			reason:     "AllowedValues of a String stay strings, even unquoted YAML booleans and numbers",
			params:     "P:\n  Type: String\n  AllowedValues: [true, false, 5]\n  Default: true\n",
			wantCreate: map[string]any{"type": "string", "enum": []any{"true", "false", "5"}, "default": "true"},
		},
		{
			reason:     "AllowedPattern is anchored, since CloudFormation matches whole values",
			params:     "P:\n  Type: String\n  AllowedPattern: '[a-z]+'\n  Default: abc\n",
			wantCreate: map[string]any{"type": "string", "pattern": "^(?:[a-z]+)$", "default": "abc"},
		},
		{
			reason:     "MinLength and MaxLength are minLength and maxLength",
			params:     "P:\n  Type: String\n  MinLength: '1'\n  MaxLength: 64\n",
			wantCreate: map[string]any{"type": "string", "minLength": 1.0, "maxLength": 64.0},
			required:   true,
		},
		{
			reason:     "NoEcho is writeOnly, the broker's secret marker",
			params:     "P:\n  Type: String\n  NoEcho: 'True'\n",
			wantCreate: map[string]any{"type": "string", "writeOnly": true},
			required:   true,
		},
		{
			reason:     "the Interface label is the title and the Description the description",
			params:     "P:\n  Type: String\n  Description: What P is\n  Default: x\n",
			wantCreate: map[string]any{"type": "string", "title": "The P", "description": "What P is", "default": "x"},
		},
		{
			reason: "a CommaDelimitedList takes an array or the string, and its default is an array",
			params: "P:\n  Type: CommaDelimitedList\n  Default: a,b\n  AllowedValues: [a, b, c]\n",
			wantCreate: map[string]any{"type": []any{"array", "string"}, "items": map[string]any{"type": "string", "enum": []any{"a", "b", "c"}},
				"default": []any{"a", "b"}},
		},
		{
			reason: "a List<Number>'s items are numbers",
			params: "P:\n  Type: List<Number>\n  Default: '1,2'\n  MinValue: 0\n",
			wantCreate: map[string]any{"type": []any{"array", "string"}, "items": map[string]any{"type": "integer", "minimum": 0.0},
				"default": []any{1.0, 2.0}},
		},
		{
			reason:     "an AWS-specific type is a string, required without a default: the user must know the VPC",
			params:     "P:\n  Type: AWS::EC2::VPC::Id\n",
			wantCreate: map[string]any{"type": "string"},
			required:   true,
		},
		{
			reason:     "a List<AWS::…> type is a list of strings",
			params:     "P:\n  Type: List<AWS::EC2::Subnet::Id>\n  Default: ''\n",
			wantCreate: map[string]any{"type": []any{"array", "string"}, "items": map[string]any{"type": "string"}, "default": []any{}},
		},
		{
			reason:     "an SSM parameter type takes the parameter's name, a string",
			params:     "P:\n  Type: AWS::SSM::Parameter::Value<List<String>>\n  Default: /ami\n",
			wantCreate: map[string]any{"type": "string", "default": "/ami"},
		},
		{
			reason: "a parameter the plan fixes is in no schema, even if updatable",
			params: "P:\n  Type: String\n",
			plan:   "ParameterValues:\n  P: fixed\n",
			spec:   "UpdatableParameters: [P]\n",
		},
		{
			reason:     "the plan's default wins over the template's",
			params:     "P:\n  Type: Number\n  Default: 1\n",
			plan:       "ParameterDefaults:\n  P: 2\n",
			wantCreate: map[string]any{"type": "integer", "default": 2.0},
		},
		{
			reason:     "a plan's default makes a parameter without a template default optional",
			params:     "P:\n  Type: String\n",
			plan:       "ParameterDefaults:\n  P: x\n",
			wantCreate: map[string]any{"type": "string", "default": "x"},
		},
		{
			reason:     "a fractional plan default makes the Number a number",
			params:     "P:\n  Type: Number\n  Default: 1\n",
			plan:       "ParameterDefaults:\n  P: 1.5\n",
			wantCreate: map[string]any{"type": "number", "default": 1.5},
		},
		{
			reason:     "an updatable parameter is in the update schema, without a default",
			params:     "P:\n  Type: Number\n  Default: 1\n  MaxValue: 5\n",
			spec:       "UpdatableParameters: [P]\n",
			wantCreate: map[string]any{"type": "integer", "default": 1.0, "maximum": 5.0},
			wantUpdate: map[string]any{"type": "integer", "maximum": 5.0},
		},
		{
			reason:     "a parameter that is not updatable is not in the update schema",
			params:     "P:\n  Type: String\n  Default: x\nQ:\n  Type: String\n  Default: y\n",
			spec:       "UpdatableParameters: [Q]\n",
			wantCreate: map[string]any{"type": "string", "default": "x"},
		},
	} {
		t.Run(tt.reason, func(t *testing.T) {
			t.Parallel()
			body := withSpec(tt.plan, tt.spec+"DisplayName: T\n", tt.params)
			// Label P through the Interface metadata.
			body = strings.Replace(body, "Metadata:\n", "Metadata:\n  AWS::CloudFormation::Interface:\n    ParameterLabels:\n      P: {default: The P}\n", 1)
			set, err := catalog.LoadTemplates(mapFS("t.yaml", body), catalog.TemplateOptions{})
			if err != nil {
				t.Fatalf("%v\n%s", err, body)
			}
			p := set.Catalog.Services[0].Plans[0]
			create, update := p.InstanceCreateSchema(), p.InstanceUpdateSchema()
			for _, s := range []catalog.Schema{create, update} {
				if s["$schema"] != "http://json-schema.org/draft-07/schema#" || s["type"] != "object" || s["additionalProperties"] != false {
					t.Errorf("schema header %v", s)
				}
			}
			// The title comes from the label in every case; add it to the
			// expectation when the case does not state it.
			want := withTitle(tt.wantCreate)
			if diff := cmp.Diff(want, jsonOf(t, create["properties"]).(map[string]any)["P"]); diff != "" {
				t.Errorf("create property (-want +got):\n%s", diff)
			}
			if got := contains(requiredOf(create), "P"); got != tt.required {
				t.Errorf("required %v, want %v (required: %v)", got, tt.required, requiredOf(create))
			}
			if _, ok := update["required"]; ok {
				t.Errorf("the update schema has required parameters: %v", update["required"])
			}
			if diff := cmp.Diff(withTitle(tt.wantUpdate), jsonOf(t, update["properties"]).(map[string]any)["P"]); diff != "" {
				t.Errorf("update property (-want +got):\n%s", diff)
			}
		})
	}
}

func withTitle(prop any) any {
	m, ok := prop.(map[string]any)
	if !ok {
		return nil
	}
	out := map[string]any{"title": "The P"}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
