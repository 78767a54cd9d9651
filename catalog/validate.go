package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// MaxSchemaSize is the largest a parameter schema may be, in bytes of its
// compact JSON encoding (the spec's 64 kB).
const MaxSchemaSize = 64 * 1024

// ValidationError is one problem [Catalog.Validate] found.
type ValidationError struct {
	// Path names the offending field: the service and plan by index and
	// name (or ID when the name is empty), then the field's JSON name, as
	// in `services[0] ("sqs").plans[1] ("standard").maintenance_info.version`.
	Path string
	// Message says what is wrong. It never contains a dashboard client
	// secret.
	Message string
}

// Error returns "catalog: " + Path + ": " + Message.
func (e *ValidationError) Error() string {
	return "catalog: " + e.Path + ": " + e.Message
}

// ValidationErrors is every problem [Catalog.Validate] found, in document
// order. It is never empty when returned as an error.
type ValidationErrors []*ValidationError

// Error returns each problem's Error, one a line, like [errors.Join].
func (es ValidationErrors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns the problems, so that [errors.As] finds the first
// *ValidationError.
func (es ValidationErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Validate checks c against the OSB API v2.17 catalog rules and returns
// every problem it finds as [ValidationErrors], or nil. The rules:
//
//   - every service and plan has a non-empty id, unique across all the
//     services and plans of the catalog;
//   - names are non-empty and CLI-friendly (only letters, digits, periods
//     and hyphens); service names are unique in the catalog and plan names
//     within their service, compared case-sensitively;
//   - every service and plan has a non-empty description, and every
//     service at least one plan;
//   - requires lists only syslog_drain, route_forwarding and volume_mount,
//     each at most once;
//   - maximum_polling_duration is not negative;
//   - maintenance_info.version is a semantic version 2.0 ([ValidSemver]);
//   - dashboard_client has a non-empty id and secret;
//   - every parameter schema has a string "$schema" naming draft-04,
//     draft-06, draft-07, 2019-09 or 2020-12, refers to no external
//     document ("$ref" values that do not start with "#"; the whole
//     document is searched), is at most [MaxSchemaSize] bytes as compact
//     JSON, and compiles; nothing is loaded from the network or the disk;
//   - only a bindable plan ([Service.IsBindable]) has a binding schema;
//   - metadata can be encoded as JSON;
//   - a service's credentials (brokerkit's own, never sent; checked after
//     its plans): mapping is "", as-is, screaming-snake or
//     servicebinding; type and provider, when set, use only a-z, 0-9,
//     hyphens and periods, and a provider needs a type; every transform
//     has a key and a known op ([OpRename] with to, [OpAdd] with exactly
//     one of value and a template that parses, [OpRemove] with nothing
//     else), and no field its op does not use; lifetime is not negative.
//
// A nil or empty Catalog is valid.
func (c *Catalog) Validate() error {
	_, err := check(c)
	return err
}

// compiledPlan holds the compiled schemas of one plan, indexed by
// SchemaKind-1; a nil entry means the plan has no schema of that kind.
type compiledPlan [BindingCreate]*jsonschema.Schema

// check validates c and, when it is valid, returns the compiled schemas
// of each plan, indexed like c.Services[i].Plans[j].
func check(c *Catalog) ([][]compiledPlan, error) {
	if c == nil {
		return nil, nil
	}
	var errs ValidationErrors
	add := func(path, format string, args ...any) {
		errs = append(errs, &ValidationError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	ids := map[string]string{}          // id -> path of its first use
	serviceNames := map[string]string{} // name -> path of its first use
	checkID := func(path, id string) {
		if id == "" {
			add(path+".id", "must not be empty")
			return
		}
		if first, ok := ids[id]; ok {
			add(path+".id", "%q is already used by %s", id, first)
			return
		}
		ids[id] = path
	}
	checkName := func(path, name string, seen map[string]string) {
		switch {
		case name == "":
			add(path+".name", "must not be empty")
		case seen[name] != "":
			add(path+".name", "%q is already used by %s", name, seen[name])
		default:
			seen[name] = path
			if !cliFriendly(name) {
				add(path+".name", "%q is not CLI-friendly: use only letters, digits, periods and hyphens", name)
			}
		}
	}

	compiled := make([][]compiledPlan, len(c.Services))
	for i := range c.Services {
		s := &c.Services[i]
		sp := elemPath("services", i, s.Name, s.ID)
		checkID(sp, s.ID)
		checkName(sp, s.Name, serviceNames)
		if s.Description == "" {
			add(sp+".description", "must not be empty")
		}
		var required []string
		for j, r := range s.Requires {
			rp := fmt.Sprintf("%s.requires[%d]", sp, j)
			switch {
			case r != RequiresSyslogDrain && r != RequiresRouteForwarding && r != RequiresVolumeMount:
				add(rp, "%q is not a supported permission (%s, %s or %s)", r, RequiresSyslogDrain, RequiresRouteForwarding, RequiresVolumeMount)
			case slices.Contains(required, r):
				add(rp, "%q is listed more than once", r)
			default:
				required = append(required, r)
			}
		}
		checkMetadata(sp, s.Metadata, add)
		if d := s.DashboardClient; d != nil {
			if d.ID == "" {
				add(sp+".dashboard_client.id", "must not be empty")
			}
			if d.Secret == "" {
				add(sp+".dashboard_client.secret", "must not be empty")
			}
		}
		if len(s.Plans) == 0 {
			add(sp+".plans", "must have at least one plan")
		}
		planNames := map[string]string{}
		compiled[i] = make([]compiledPlan, len(s.Plans))
		for j := range s.Plans {
			p := &s.Plans[j]
			pp := sp + "." + elemPath("plans", j, p.Name, p.ID)
			checkID(pp, p.ID)
			checkName(pp, p.Name, planNames)
			if p.Description == "" {
				add(pp+".description", "must not be empty")
			}
			checkMetadata(pp, p.Metadata, add)
			// The kinds are numbered in document order.
			for k := InstanceCreate; k <= BindingCreate; k++ {
				doc := planSchema(p, k)
				if len(doc) == 0 {
					continue
				}
				path := pp + ".schemas." + k.String() + ".parameters"
				sch, problems := compileSchema(doc)
				for _, m := range problems {
					add(path, "%s", m)
				}
				if k == BindingCreate && !s.IsBindable(p) {
					add(path, "the plan is not bindable, so it must not have a binding schema")
				}
				compiled[i][j][k-1] = sch
			}
			if p.MaximumPollingDuration < 0 {
				add(pp+".maximum_polling_duration", "must not be negative, got %d", p.MaximumPollingDuration)
			}
			if m := p.MaintenanceInfo; m != nil {
				switch {
				case m.Version == "":
					add(pp+".maintenance_info.version", "must not be empty")
				case !ValidSemver(m.Version):
					add(pp+".maintenance_info.version", "%q is not a semantic version 2.0", m.Version)
				}
			}
		}
		if s.Credentials != nil {
			checkCredentials(s.Credentials, false, func(field, format string, args ...any) {
				add(sp+".credentials."+field, format, args...)
			})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return compiled, nil
}

// checkMetadata reports metadata that cannot be sent: encoding/json
// rejects NaN, infinities, channels, functions and cycles.
func checkMetadata(path string, m map[string]any, add func(path, format string, args ...any)) {
	if m == nil {
		return
	}
	if _, err := json.Marshal(m); err != nil {
		add(path+".metadata", "cannot be encoded as JSON: %v", err)
	}
}

// elemPath names element i of a list, with its name, or its id when the
// name is empty.
func elemPath(list string, i int, name, id string) string {
	switch {
	case name != "":
		return fmt.Sprintf("%s[%d] (%q)", list, i, name)
	case id != "":
		return fmt.Sprintf("%s[%d] (id %q)", list, i, id)
	default:
		return fmt.Sprintf("%s[%d]", list, i)
	}
}

// cliFriendly reports whether name uses only the characters the spec
// calls CLI-friendly: ASCII letters, digits, periods and hyphens.
func cliFriendly(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// planSchema returns p's schema of kind k, or nil.
func planSchema(p *Plan, k SchemaKind) Schema {
	switch k {
	case InstanceCreate:
		return p.InstanceCreateSchema()
	case InstanceUpdate:
		return p.InstanceUpdateSchema()
	case BindingCreate:
		return p.BindingCreateSchema()
	}
	return nil
}

// schemaURL is the base URL the in-memory schema is compiled under. It is
// removed from compiler messages.
const schemaURL = "mem:///parameters.json"

// knownDraft reports whether the "$schema" value s names a draft that
// the compiler knows without loading anything, over http or https, with
// an optional empty fragment.
func knownDraft(s string) bool {
	s = strings.TrimSuffix(s, "#")
	u, ok := strings.CutPrefix(s, "http://")
	if !ok {
		u, ok = strings.CutPrefix(s, "https://")
	}
	if !ok {
		return false
	}
	switch u {
	case "json-schema.org/draft-04/schema",
		"json-schema.org/draft-06/schema",
		"json-schema.org/draft-07/schema",
		"json-schema.org/draft/2019-09/schema",
		"json-schema.org/draft/2020-12/schema",
		"json-schema.org/schema": // the latest draft, 2020-12
		return true
	}
	return false
}

// compileSchema checks one parameter schema and compiles it. It returns
// the problems found; the compiled schema is nil when there are any.
func compileSchema(s Schema) (*jsonschema.Schema, []string) {
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, []string{"cannot be encoded as JSON: " + err.Error()}
	}
	if len(raw) > MaxSchemaSize {
		return nil, []string{fmt.Sprintf("is %d bytes as JSON, more than the %d allowed", len(raw), MaxSchemaSize)}
	}
	// Compile the JSON form, not s itself: it is what platforms see, and
	// it holds only the types the compiler understands (json.Number).
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, []string{"cannot be decoded as JSON: " + err.Error()}
	}
	obj := doc.(map[string]any) // s is a map, so raw is an object
	var problems []string
	switch v, ok := obj["$schema"]; {
	case !ok:
		problems = append(problems, `missing "$schema"`)
	case !isString(v):
		problems = append(problems, `"$schema" must be a string`)
	case !knownDraft(v.(string)):
		problems = append(problems, fmt.Sprintf(`"$schema" %q is not a supported JSON Schema draft (draft-04, draft-06, draft-07, 2019-09 or 2020-12)`, v))
	}
	walkRefs(doc, "", func(ptr, ref string) {
		problems = append(problems, fmt.Sprintf(`external reference %q at %s: only references starting with "#" are allowed`, ref, ptr))
	})
	if len(problems) > 0 {
		return nil, problems
	}

	c := jsonschema.NewCompiler()
	c.UseLoader(refuseLoader{})
	// Assert "format" in every draft, not only up to draft-07, so that a
	// schema means the same whichever draft it declares.
	c.AssertFormat()
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, []string{"does not compile: " + compileMessage(err)}
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		return nil, []string{"does not compile: " + compileMessage(err)}
	}
	return sch, nil
}

func isString(v any) bool {
	_, ok := v.(string)
	return ok
}

// walkRefs calls found for every external reference in doc: a "$ref",
// "$dynamicRef" or "$recursiveRef" whose string value does not start with
// "#". ptr is the JSON pointer of the keyword. Map keys are visited in
// sorted order, so problems come in a stable order.
func walkRefs(doc any, ptr string, found func(ptr, ref string)) {
	switch v := doc.(type) {
	case map[string]any:
		keys := slices.Sorted(maps.Keys(v))
		for _, k := range keys {
			kp := ptr + "/" + escapePointer(k)
			if ref, ok := v[k].(string); ok && (k == "$ref" || k == "$dynamicRef" || k == "$recursiveRef") && !strings.HasPrefix(ref, "#") {
				found(kp, ref)
			}
			walkRefs(v[k], kp, found)
		}
	case []any:
		for i, e := range v {
			walkRefs(e, fmt.Sprintf("%s/%d", ptr, i), found)
		}
	}
}

// escapePointer escapes one JSON pointer token (RFC 6901).
func escapePointer(tok string) string {
	tok = strings.ReplaceAll(tok, "~", "~0")
	return strings.ReplaceAll(tok, "/", "~1")
}

// refuseLoader is the compiler's only loader: a catalog schema must be
// self-contained, so nothing is ever fetched from the network or read
// from the disk. Metaschemas of the known drafts are built into the
// compiler and do not go through a loader.
type refuseLoader struct{}

// Load refuses every URL.
func (refuseLoader) Load(url string) (any, error) {
	return nil, errors.New("schemas must not refer to external documents")
}

// compileMessage turns a compiler error into one line. A schema that
// does not match its draft's metaschema yields one "at '<pointer>': …"
// entry per violation.
func compileMessage(err error) string {
	var msg string
	var sve *jsonschema.SchemaValidationError
	var ve *jsonschema.ValidationError
	if errors.As(err, &sve) && errors.As(sve.Err, &ve) {
		var leaves []string
		collectLeaves(ve, &leaves)
		msg = strings.Join(leaves, "; ")
	} else {
		msg = err.Error()
	}
	msg = strings.ReplaceAll(msg, schemaURL, "")
	return strings.ReplaceAll(msg, "\n", " ")
}

// collectLeaves appends the messages of the causes of e that have no
// causes themselves.
func collectLeaves(e *jsonschema.ValidationError, out *[]string) {
	if len(e.Causes) == 0 {
		*out = append(*out, e.Error())
		return
	}
	for _, c := range e.Causes {
		collectLeaves(c, out)
	}
}
