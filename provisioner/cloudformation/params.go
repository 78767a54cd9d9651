package cloudformation

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/brokerkit/brokerkit/provisioner"
)

// ParameterError reports parameters that cannot be sent to CloudFormation.
// It names them and never quotes their values.
type ParameterError struct {
	// Names are the parameters, sorted.
	Names []string
	// Problem says what is wrong with them.
	Problem string
}

func (e *ParameterError) Error() string {
	q := make([]string, len(e.Names))
	for i, n := range e.Names {
		q[i] = strconv.Quote(n)
	}
	noun := "parameter"
	if len(q) > 1 {
		noun = "parameters"
	}
	return fmt.Sprintf("cloudformation: %s %s: %s", noun, strings.Join(q, ", "), e.Problem)
}

func invalidParams(problem string, names ...string) error {
	slices.Sort(names)
	return provisioner.Terminal(provisioner.ReasonInvalid, &ParameterError{Names: names, Problem: problem})
}

// isListType reports whether a CloudFormation parameter type takes a
// comma-separated list.
func isListType(typ string) bool {
	return typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<")
}

// ParameterValue converts v, a parameter value as encoding/json decodes
// it (with or without UseNumber) or a Go value of the same kinds, to the
// string CloudFormation takes for a parameter of type typ:
//
//   - a string as it is;
//   - a json.Number exactly as written (1209600, never 1.2096e+06);
//   - a float without exponent (strconv 'f', -1), an integer in decimal;
//   - a bool as "true" or "false";
//   - for list types only (CommaDelimitedList, List<…>), an array of
//     those, joined with commas (an element holding a comma is refused).
//
// Objects, nested arrays and other types are refused. The error names the
// parameter and never quotes the value.
func ParameterValue(name, typ string, v any) (string, error) {
	if list, ok := asList(v); ok {
		if !isListType(typ) {
			return "", invalidParams(fmt.Sprintf("is an array, but its type %s is not a list type", cmpOr(typ, "String")), name)
		}
		parts := make([]string, len(list))
		for i, e := range list {
			s, err := scalar(name, e)
			if err != nil {
				return "", err
			}
			if strings.Contains(s, ",") {
				return "", invalidParams("has a list element that contains a comma", name)
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	}
	return scalar(name, v)
}

func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, true
	}
	return nil, false
}

func scalar(name string, v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		if _, err := strconv.ParseFloat(x.String(), 64); err != nil && !isRangeErr(err) {
			return "", invalidParams("is not a valid number", name)
		}
		return x.String(), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32), nil
	case int:
		return strconv.FormatInt(int64(x), 10), nil
	case int8:
		return strconv.FormatInt(int64(x), 10), nil
	case int16:
		return strconv.FormatInt(int64(x), 10), nil
	case int32:
		return strconv.FormatInt(int64(x), 10), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint8:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint16:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint32:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case bool:
		return strconv.FormatBool(x), nil
	case map[string]any:
		return "", invalidParams("is an object; CloudFormation parameters are strings, numbers, booleans or (for list types) arrays of those", name)
	case []any, []string:
		return "", invalidParams("is a nested array", name)
	case nil:
		return "", invalidParams("is null", name)
	}
	return "", invalidParams(fmt.Sprintf("has an unsupported type %T", v), name)
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// paramSet builds the Parameters of a call and remembers the values it
// sent, so that they can be cut out of CloudFormation's error messages.
type paramSet struct {
	params []types.Parameter
	values []string
}

func (p *paramSet) set(key, value string) {
	p.params = append(p.params, types.Parameter{ParameterKey: aws.String(key), ParameterValue: aws.String(value)})
	p.values = append(p.values, value)
}

func (p *paramSet) usePrevious(key string) {
	p.params = append(p.params, types.Parameter{ParameterKey: aws.String(key), UsePreviousValue: aws.Bool(true)})
}

// createParameters converts user to the parameters of CreateStack for t:
// the user's values of declared parameters, then t's fixed values, which
// win. A null user value counts as absent. Undeclared user parameters are
// an error naming all of them.
func createParameters(t Template, user map[string]any) (*paramSet, error) {
	var unknown []string
	for k := range user {
		if _, declared := t.Parameters[k]; !declared {
			if _, fixed := t.FixedParameters[k]; !fixed {
				unknown = append(unknown, k)
			}
		}
	}
	if len(unknown) > 0 {
		return nil, invalidParams("not declared by the plan's template", unknown...)
	}
	p := &paramSet{}
	for _, k := range slices.Sorted(maps.Keys(t.Parameters)) {
		if _, fixed := t.FixedParameters[k]; fixed {
			continue
		}
		v, ok := user[k]
		if !ok || v == nil {
			if d, ok := t.DefaultParameters[k]; ok {
				p.set(k, d)
			}
			continue
		}
		s, err := ParameterValue(k, t.Parameters[k].Type, v)
		if err != nil {
			return nil, err
		}
		p.set(k, s)
	}
	for _, k := range slices.Sorted(maps.Keys(t.FixedParameters)) {
		p.set(k, t.FixedParameters[k])
	}
	return p, nil
}

// updateParameters builds the parameters of UpdateStack.
//
// declared are the parameters the template of the update declares: the
// stack's own parameters when its template is kept (types from specs where
// the current plan declares them), or the new template's. current are the
// keys the stack has now. Each declared parameter is, in this order of
// precedence:
//   - set to the plan's fixed value when the template is new (fixed
//     values of a kept template keep their previous value: the pin covers
//     them too);
//   - set to the user's value from change, if given (and not null);
//   - UsePreviousValue, if the stack has it;
//   - left out (the template's default applies).
func updateParameters(declared map[string]ParameterSpec, fixed map[string]string, newTemplate bool, current map[string]bool, change map[string]any) (*paramSet, error) {
	var unknown []string
	for k := range change {
		if _, ok := declared[k]; !ok {
			if _, ok := fixed[k]; !ok || !newTemplate {
				unknown = append(unknown, k)
			}
		}
	}
	if len(unknown) > 0 {
		problem := "not declared by the plan's template"
		if !newTemplate {
			problem = "not declared by the template the instance was created from (an upgrade through maintenance_info or a plan change brings the current template)"
		}
		return nil, invalidParams(problem, unknown...)
	}
	p := &paramSet{}
	keys := slices.Collect(maps.Keys(declared))
	if newTemplate {
		for k := range fixed {
			if _, ok := declared[k]; !ok {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if fv, isFixed := fixed[k]; isFixed {
			switch {
			case newTemplate:
				p.set(k, fv)
			case current[k]:
				p.usePrevious(k)
			}
			continue
		}
		if v, ok := change[k]; ok && v != nil {
			s, err := ParameterValue(k, declared[k].Type, v)
			if err != nil {
				return nil, err
			}
			p.set(k, s)
			continue
		}
		if current[k] {
			p.usePrevious(k)
		}
	}
	return p, nil
}
