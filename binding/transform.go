package binding

import (
	"fmt"
	"slices"
	"strings"
	"text/template"
)

// A Transform changes credentials after the mapping: [RenameKey],
// [AddKey] or [RemoveKey], in the spirit of the secretTransforms of the
// retired Kubernetes Service Catalog. Transforms are declarative values,
// applied in order by [Build] or [Apply]. The interface is closed: only
// this package's transforms implement it.
type Transform interface {
	apply(m map[string]string) error
}

// RenameKey renames From to To. From must exist ([ErrMissingKey]) and To
// must not ([ErrDuplicateKey]), so a rename never drops a value silently.
type RenameKey struct {
	From, To string
}

// AddKey adds Key, or replaces its value if it exists. The value is
// Value, or, when Template is set, the output of the Go text/template
// Template executed over the credentials so far, e.g.
//
//	postgres://{{urlquery .username}}:{{urlquery .password}}@{{.host}}:{{.port}}/{{.database}}
//
// A template referring to a missing key fails with [ErrMissingKey] naming
// it. Setting both Value and Template is [ErrBadTransform]. A Value is
// catalog text, seen by whoever reads the catalog: put no secrets in it.
type AddKey struct {
	Key      string
	Value    string
	Template string
}

// RemoveKey removes Key, which must exist ([ErrMissingKey]): a transform
// naming a key that is never there is a mistake worth hearing about.
type RemoveKey struct {
	Key string
}

// Apply applies ts in order to a copy of c.
func Apply(c Credentials, ts ...Transform) (Credentials, error) {
	m := c.Map()
	if err := applyAll(m, ts); err != nil {
		return Credentials{}, err
	}
	return FromMap(m), nil
}

func applyAll(m map[string]string, ts []Transform) error {
	for _, t := range ts {
		if t == nil {
			continue
		}
		if err := t.apply(m); err != nil {
			return err
		}
	}
	return nil
}

func (t RenameKey) apply(m map[string]string) error {
	v, ok := m[t.From]
	if !ok {
		return &Error{Op: "rename", Key: t.From, Err: ErrMissingKey}
	}
	if t.To == t.From {
		return nil
	}
	if _, ok := m[t.To]; ok {
		return &Error{Op: "rename", Key: t.To, Err: fmt.Errorf("%w: renaming %q would replace it", ErrDuplicateKey, t.From)}
	}
	delete(m, t.From)
	m[t.To] = v
	return nil
}

func (t RemoveKey) apply(m map[string]string) error {
	if _, ok := m[t.Key]; !ok {
		return &Error{Op: "remove", Key: t.Key, Err: ErrMissingKey}
	}
	delete(m, t.Key)
	return nil
}

func (t AddKey) apply(m map[string]string) error {
	if t.Template == "" {
		m[t.Key] = t.Value
		return nil
	}
	if t.Value != "" {
		return &Error{Op: "add", Key: t.Key, Err: fmt.Errorf("%w: both Value and Template set", ErrBadTransform)}
	}
	tmpl, err := template.New(t.Key).Option("missingkey=error").Parse(t.Template)
	if err != nil {
		// Parse errors quote the template, which is catalog text.
		return &Error{Op: "add", Key: t.Key, Err: fmt.Errorf("%w: %v", ErrBadTransform, err)}
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, m); err != nil {
		if missing, ok := missingKey(err); ok {
			return &Error{Op: "add", Key: t.Key, Err: fmt.Errorf("%w: template refers to %q", ErrMissingKey, missing)}
		}
		// Execution errors come from text/template and may, in some
		// corner, quote an argument: scrub every value out of the text
		// and keep no link to the original error.
		return &Error{Op: "add", Key: t.Key, Err: fmt.Errorf("%w: %s", ErrBadTransform, scrub(err.Error(), m))}
	}
	m[t.Key] = b.String()
	return nil
}

// missingKey extracts the key from text/template's "map has no entry for
// key" error.
func missingKey(err error) (string, bool) {
	const marker = `map has no entry for key "`
	s := err.Error()
	i := strings.Index(s, marker)
	if i < 0 {
		return "", false
	}
	rest := s[i+len(marker):]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	return rest[:j], true
}

// scrub replaces every non-empty value of m in s, longest first so that a
// value containing another is replaced whole.
func scrub(s string, m map[string]string) string {
	vals := make([]string, 0, len(m))
	for _, v := range m {
		if v != "" {
			vals = append(vals, v)
		}
	}
	slices.SortFunc(vals, func(a, b string) int { return len(b) - len(a) })
	for _, v := range vals {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	return s
}
