package cloudformation

import (
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/provisioner"
)

func TestParameterValue(t *testing.T) {
	tests := []struct {
		reason string
		typ    string
		v      any
		want   string
	}{
		{"a json.Number is kept exactly", "Number", json.Number("1209600"), "1209600"},
		{"a big json.Number is kept exactly", "Number", json.Number("123456789012345678901234567890"), "123456789012345678901234567890"},
		{"a decimal json.Number is kept exactly", "Number", json.Number("0.10"), "0.10"},
		{"a float64 has no exponent", "Number", float64(1209600), "1209600"},
		{"a small float64 has no exponent", "Number", 0.000001, "0.000001"},
		{"a fractional float64", "Number", 2.5, "2.5"},
		{"an int", "Number", 42, "42"},
		{"an int64", "Number", int64(-7), "-7"},
		{"a uint64", "Number", uint64(18446744073709551615), "18446744073709551615"},
		{"true", "String", true, "true"},
		{"false", "String", false, "false"},
		{"a string as is", "String", "a, b", "a, b"},
		{"an array for CommaDelimitedList", "CommaDelimitedList", []any{"a", "b"}, "a,b"},
		{"an array of numbers for List<Number>", "List<Number>", []any{json.Number("1"), 2.5, float64(3e6)}, "1,2.5,3000000"},
		{"a []string for a List<…> type", "List<AWS::EC2::Subnet::Id>", []string{"subnet-1", "subnet-2"}, "subnet-1,subnet-2"},
		{"an empty array", "CommaDelimitedList", []any{}, ""},
		{"a string for a list type is passed on", "CommaDelimitedList", "a,b", "a,b"},
	}
	for _, tt := range tests {
		got, err := ParameterValue("P", tt.typ, tt.v)
		if err != nil || got != tt.want {
			t.Errorf("%s: ParameterValue(%s, %#v) = %q, %v; want %q", tt.reason, tt.typ, tt.v, got, err, tt.want)
		}
	}
}

func TestParameterValueRefused(t *testing.T) {
	const secret = "s3cr3t-value"
	tests := []struct {
		reason string
		typ    string
		v      any
	}{
		{"an object", "String", map[string]any{"k": secret}},
		{"an array for a non-list type", "String", []any{secret}},
		{"a nested array", "CommaDelimitedList", []any{[]any{secret}}},
		{"an object in an array", "CommaDelimitedList", []any{map[string]any{"k": secret}}},
		{"a list element with a comma", "CommaDelimitedList", []any{secret + ",x"}},
		{"an invalid json.Number", "Number", json.Number(secret)},
		{"an unsupported type", "String", struct{ S string }{secret}},
	}
	for _, tt := range tests {
		_, err := ParameterValue("MyParam", tt.typ, tt.v)
		var te *provisioner.TerminalError
		if !errors.As(err, &te) || te.Reason != provisioner.ReasonInvalid {
			t.Errorf("%s: err = %v, want a terminal ReasonInvalid error", tt.reason, err)
			continue
		}
		var pe *ParameterError
		if !errors.As(err, &pe) || !cmp.Equal(pe.Names, []string{"MyParam"}) {
			t.Errorf("%s: err = %v, want a *ParameterError naming MyParam", tt.reason, err)
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: error %q quotes the value", tt.reason, err)
		}
		if !strings.Contains(err.Error(), `"MyParam"`) {
			t.Errorf("%s: error %q does not name the parameter", tt.reason, err)
		}
	}
}

// paramMap renders parameters as key → value, or key → "<previous>".
func paramMap(ps []types.Parameter) map[string]string {
	m := map[string]string{}
	for _, p := range ps {
		v := aws.ToString(p.ParameterValue)
		if aws.ToBool(p.UsePreviousValue) {
			if p.ParameterValue != nil {
				v = "<previous and a value!>"
			} else {
				v = "<previous>"
			}
		}
		m[aws.ToString(p.ParameterKey)] = v
	}
	return m
}

func TestCreateParameters(t *testing.T) {
	tmpl := testTemplates()[testPlanID]
	p, err := createParameters(tmpl, map[string]any{
		"Retention": json.Number("1209600"),
		"Label":     nil, // null counts as absent
		"Password":  "hunter22",
		"Subnets":   []any{"subnet-1", "subnet-2"},
		"Size":      "huge", // fixed: the plan's value wins
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Retention": "1209600", "Password": "hunter22", "Subnets": "subnet-1,subnet-2", "Size": "small"}
	if diff := cmp.Diff(want, paramMap(p.params)); diff != "" {
		t.Errorf("parameters (-want +got):\n%s", diff)
	}
	if !strings.Contains(strings.Join(p.values, "|"), "hunter22") {
		t.Errorf("sent values %q are not remembered for redaction", p.values)
	}
}

func TestCreateParametersUnknown(t *testing.T) {
	_, err := createParameters(testTemplates()[testPlanID], map[string]any{"Zeta": "v1-secret", "Alpha": "v2-secret", "Retention": 1})
	var pe *ParameterError
	if !errors.As(err, &pe) || !cmp.Equal(pe.Names, []string{"Alpha", "Zeta"}) {
		t.Fatalf("err = %v, want a ParameterError naming Alpha and Zeta", err)
	}
	var te *provisioner.TerminalError
	if !errors.As(err, &te) || te.Reason != provisioner.ReasonInvalid {
		t.Errorf("err = %v, want terminal ReasonInvalid", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error %q quotes a value", err)
	}
}

func TestUpdateParameters(t *testing.T) {
	small := testTemplates()[testPlanID]
	large := testTemplates()[testPlan2ID]
	stackKeys := map[string]bool{"Retention": true, "Label": true, "Password": true, "Size": true}
	pinned := map[string]ParameterSpec{}
	for k := range stackKeys {
		pinned[k] = small.Parameters[k]
	}
	tests := []struct {
		reason      string
		declared    map[string]ParameterSpec
		fixed       map[string]string
		newTemplate bool
		change      map[string]any
		want        map[string]string
		wantUnknown []string
	}{
		{
			reason:   "partial update of a pinned stack: the rest (secret too) keeps its value, and so does a fixed one",
			declared: pinned, fixed: small.FixedParameters,
			change: map[string]any{"Retention": float64(600), "Size": "huge"},
			want:   map[string]string{"Retention": "600", "Label": "<previous>", "Password": "<previous>", "Size": "<previous>"},
		},
		{
			reason:   "a parameter of the current plan that the stack's template lacks is unknown",
			declared: pinned, fixed: small.FixedParameters,
			change:      map[string]any{"Subnets": []any{"a"}},
			wantUnknown: []string{"Subnets"},
		},
		{
			reason:   "plan change: the new plan's fixed values are set, new parameters without value are left to defaults, dropped ones are not sent",
			declared: large.Parameters, fixed: large.FixedParameters, newTemplate: true,
			change: map[string]any{"Label": "x", "Size": "ignored"},
			want:   map[string]string{"Retention": "<previous>", "Label": "x", "Size": "large"},
		},
		{
			reason:   "plan change: a parameter the new template does not declare is unknown",
			declared: large.Parameters, fixed: large.FixedParameters, newTemplate: true,
			change:      map[string]any{"Password": "pw-secret"},
			wantUnknown: []string{"Password"},
		},
	}
	for _, tt := range tests {
		p, err := updateParameters(tt.declared, tt.fixed, tt.newTemplate, stackKeys, tt.change)
		if tt.wantUnknown != nil {
			var pe *ParameterError
			if !errors.As(err, &pe) || !cmp.Equal(pe.Names, tt.wantUnknown) {
				t.Errorf("%s: err = %v, want a ParameterError naming %v", tt.reason, err, tt.wantUnknown)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("%s: error %q quotes a value", tt.reason, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.reason, err)
			continue
		}
		if diff := cmp.Diff(tt.want, paramMap(p.params)); diff != "" {
			t.Errorf("%s: parameters (-want +got):\n%s", tt.reason, diff)
		}
	}
}

func TestCreateParametersPlanDefaults(t *testing.T) {
	tpl := Template{
		Parameters:        map[string]ParameterSpec{"Size": {Type: "Number"}, "Name": {Type: "String"}, "Mode": {Type: "String"}},
		FixedParameters:   map[string]string{"Mode": "fixed"},
		DefaultParameters: map[string]string{"Size": "10", "Mode": "ignored"},
	}
	p, err := createParameters(tpl, map[string]any{"Name": "q"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, x := range p.params {
		got[*x.ParameterKey] = *x.ParameterValue
	}
	want := map[string]string{"Size": "10", "Name": "q", "Mode": "fixed"}
	if !maps.Equal(got, want) {
		t.Errorf("parameters = %v, want %v (plan default for Size, fixed Mode wins)", got, want)
	}
	p, err = createParameters(tpl, map[string]any{"Size": 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range p.params {
		if *x.ParameterKey == "Size" && *x.ParameterValue != "3" {
			t.Errorf("the user's Size lost to the plan default: %s", *x.ParameterValue)
		}
	}
}
