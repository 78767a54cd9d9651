package catalog

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// ParameterError reports request parameters that do not match a plan's
// schema. Its text names fields and the schema's rules but never a value
// from the request, since parameters can hold secrets.
type ParameterError struct {
	// Kind is the schema the parameters were checked against.
	Kind SchemaKind
	// Problems are sorted by Field, then Message, without duplicates. There
	// is at least one.
	Problems []ParameterProblem
}

// Error reads like
//
//	parameters do not match the plan's service_instance.create schema: /queue_name: missing property; /retention: must be >= 60
func (e *ParameterError) Error() string {
	var b strings.Builder
	b.WriteString("parameters do not match the plan's ")
	b.WriteString(e.Kind.String())
	b.WriteString(" schema: ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// ParameterProblem is one way the parameters fail the schema.
type ParameterProblem struct {
	// Field is the JSON pointer (RFC 6901) of the offending value in the
	// parameters object; "" is the object itself. For a missing or a
	// forbidden property it points at that property.
	Field string
	// Message states the rule that failed, using only facts from the
	// schema and the JSON type of the value.
	Message string
}

// String returns Field + ": " + Message, with "(root)" for the empty
// Field.
func (p ParameterProblem) String() string {
	f := p.Field
	if f == "" {
		f = "(root)"
	}
	return f + ": " + p.Message
}

// problemsOf turns a validation error into sorted, deduplicated problems.
func problemsOf(e *jsonschema.ValidationError, doc any) []ParameterProblem {
	var ps []ParameterProblem
	collectProblems(e, doc, &ps)
	if len(ps) == 0 {
		ps = append(ps, ParameterProblem{Message: "fails the schema"})
	}
	slices.SortFunc(ps, func(a, b ParameterProblem) int {
		return cmp.Or(cmp.Compare(a.Field, b.Field), cmp.Compare(a.Message, b.Message))
	})
	return slices.Compact(ps)
}

// collectProblems appends the problems of e. Wrappers (the whole schema,
// groups of errors, allOf, $ref) are descended into. anyOf, oneOf, not,
// contains and propertyNames are reported as one problem each, since the
// failures of their subschemas are alternatives rather than demands.
//
// The messages are built here from the kind's schema-side fields only:
// the library's own messages quote the value (pattern, format, const,
// enum, numeric bounds).
func collectProblems(e *jsonschema.ValidationError, doc any, ps *[]ParameterProblem) {
	field := pointer(e.InstanceLocation)
	add := func(f, format string, args ...any) {
		*ps = append(*ps, ParameterProblem{Field: f, Message: fmt.Sprintf(format, args...)})
	}
	switch k := e.ErrorKind.(type) {
	case *kind.Schema, *kind.Group, *kind.AllOf, *kind.Reference, nil:
		for _, c := range e.Causes {
			collectProblems(c, doc, ps)
		}
		if len(e.Causes) == 0 && e.ErrorKind != nil {
			add(field, "fails the schema")
		}
	case *kind.Type:
		add(field, "must be %s, got %s", strings.Join(k.Want, " or "), k.Got)
	case *kind.Required:
		for _, m := range k.Missing {
			add(field+"/"+escapePointer(m), "missing property")
		}
	case *kind.Dependency:
		for _, m := range k.Missing {
			add(field+"/"+escapePointer(m), "missing property, required when %q is present", k.Prop)
		}
	case *kind.DependentRequired:
		for _, m := range k.Missing {
			add(field+"/"+escapePointer(m), "missing property, required when %q is present", k.Prop)
		}
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			add(field+"/"+escapePointer(p), "property not allowed")
		}
	case *kind.PropertyNames:
		loc := locateKey(doc, e.InstanceLocation, k.Property)
		add(pointer(loc)+"/"+escapePointer(k.Property), `property name does not match "propertyNames"`)
	case *kind.FalseSchema:
		add(field, "not allowed")
	case *kind.Enum:
		add(field, "%s", enumMessage(k.Want))
	case *kind.Const:
		if s, ok := primitive(k.Want); ok {
			add(field, "must be %s", s)
		} else {
			add(field, `must equal the "const" value`)
		}
	case *kind.Pattern:
		add(field, "must match pattern %q", k.Want)
	case *kind.Format:
		add(field, "must match format %q", k.Want)
	case *kind.MinLength:
		add(field, "must be at least %s long", plural(k.Want, "character"))
	case *kind.MaxLength:
		add(field, "must be at most %s long", plural(k.Want, "character"))
	case *kind.Minimum:
		add(field, "must be >= %s", ratString(k.Want))
	case *kind.Maximum:
		add(field, "must be <= %s", ratString(k.Want))
	case *kind.ExclusiveMinimum:
		add(field, "must be > %s", ratString(k.Want))
	case *kind.ExclusiveMaximum:
		add(field, "must be < %s", ratString(k.Want))
	case *kind.MultipleOf:
		add(field, "must be a multiple of %s", ratString(k.Want))
	case *kind.MinItems:
		add(field, "must have at least %s", plural(k.Want, "item"))
	case *kind.MaxItems:
		add(field, "must have at most %s", plural(k.Want, "item"))
	case *kind.AdditionalItems:
		add(field, "has %s more than allowed", plural(k.Count, "item"))
	case *kind.UniqueItems:
		add(field, "must not contain duplicates (items %d and %d are equal)", k.Duplicates[0], k.Duplicates[1])
	case *kind.MinProperties:
		add(field, "must have at least %s", plural(k.Want, "property"))
	case *kind.MaxProperties:
		add(field, "must have at most %s", plural(k.Want, "property"))
	case *kind.Contains:
		add(field, `must contain an item that matches "contains"`)
	case *kind.MinContains:
		add(field, `must contain at least %s that match "contains"`, plural(k.Want, "item"))
	case *kind.MaxContains:
		add(field, `must contain at most %s that match "contains"`, plural(k.Want, "item"))
	case *kind.Not:
		add(field, `must not match the "not" schema`)
	case *kind.AnyOf:
		add(field, `must match at least one schema in "anyOf"`)
	case *kind.OneOf:
		if len(k.Subschemas) >= 2 {
			add(field, `must match exactly one schema in "oneOf", but matches subschemas %d and %d`, k.Subschemas[0], k.Subschemas[1])
		} else {
			add(field, `must match exactly one schema in "oneOf", but matches none`)
		}
	default:
		kw := "schema"
		if p := e.ErrorKind.KeywordPath(); len(p) > 0 {
			kw = p[0]
		}
		add(field, "fails the %q rule", kw)
	}
}

// locateKey works around jsonschema v6.0.3 reporting propertyNames
// failures with an instance location that shares memory with the
// validator's and can be overwritten by a sibling's path: only its length
// is reliable. It returns hint if that is an object holding key, else the
// first location (in sorted order) of the same depth that is, else hint.
func locateKey(doc any, hint []string, key string) []string {
	if holdsKey(lookup(doc, hint), key) {
		return hint
	}
	var found []string
	var walk func(v any, path []string) bool
	walk = func(v any, path []string) bool {
		if len(path) == len(hint) {
			if holdsKey(v, key) {
				found = slices.Clone(path)
				return true
			}
			return false
		}
		switch v := v.(type) {
		case map[string]any:
			keys := slices.Sorted(maps.Keys(v))
			for _, k := range keys {
				if walk(v[k], append(path, k)) {
					return true
				}
			}
		case []any:
			for i, e := range v {
				if walk(e, append(path, strconv.Itoa(i))) {
					return true
				}
			}
		}
		return false
	}
	if walk(doc, nil) {
		return found
	}
	return hint
}

// lookup returns the value at the location path in doc, or nil.
func lookup(doc any, path []string) any {
	for _, tok := range path {
		switch v := doc.(type) {
		case map[string]any:
			doc = v[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				return nil
			}
			doc = v[i]
		default:
			return nil
		}
	}
	return doc
}

// holdsKey reports whether v is an object with the key.
func holdsKey(v any, key string) bool {
	obj, ok := v.(map[string]any)
	if !ok {
		return false
	}
	_, ok = obj[key]
	return ok
}

// pointer joins instance location tokens into a JSON pointer.
func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(escapePointer(t))
	}
	return b.String()
}

// maxEnumListed is how many enum values a message lists before it
// summarises.
const maxEnumListed = 10

// enumMessage states an enum rule from the schema's values.
func enumMessage(want []any) string {
	if len(want) > maxEnumListed {
		return fmt.Sprintf(`must be one of the %d values in "enum"`, len(want))
	}
	vals := make([]string, 0, len(want))
	for _, w := range want {
		s, ok := primitive(w)
		if !ok {
			return `must be one of the values in "enum"`
		}
		vals = append(vals, s)
	}
	if len(vals) == 1 {
		return "must be " + vals[0]
	}
	return "must be one of " + strings.Join(vals, ", ")
}

// primitive returns the JSON text of a schema value that is not an object
// or array.
func primitive(v any) (string, bool) {
	switch v.(type) {
	case map[string]any, []any:
		return "", false
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// ratString formats a schema number: exactly when it is an integer.
func ratString(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// plural returns "1 item", "2 items", "1 property", "2 properties".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "y") {
		return strconv.Itoa(n) + " " + strings.TrimSuffix(noun, "y") + "ies"
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// jsonType names the JSON type of a decoded value.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}
