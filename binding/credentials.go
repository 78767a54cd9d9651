package binding

import (
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"maps"
	"slices"
	"strings"
)

// Credentials are the string key/value pairs a binding hands to an
// application, ordered by key. They are immutable: every method that
// changes them returns new Credentials. The zero value is empty and ready
// to use.
//
// The values are secrets, so every implicit rendering prints the keys
// only: String, GoString, Format (every verb), LogValue, MarshalText and
// MarshalJSON. The values leave only through the explicit accessors
// [Credentials.Value], [Credentials.Map], [Credentials.All],
// [Credentials.JSON] and [Credentials.Object], and the renderers [OSB],
// [KubernetesSecretData] and [ServiceBindingSecret].
//
// Credentials is a struct holding a pointer rather than a map, so that
// even a printer that bypasses the methods (fmt on a struct with an
// unexported Credentials field) prints an address, not the values.
type Credentials struct {
	s *set
}

type set struct {
	keys []string // sorted
	vals map[string]string
}

// FromMap returns Credentials holding a copy of m. It does not validate
// the keys; [Build] does, and [ValidateKey] can.
func FromMap(m map[string]string) Credentials {
	if len(m) == 0 {
		return Credentials{}
	}
	vals := maps.Clone(m)
	return Credentials{&set{keys: slices.Sorted(maps.Keys(vals)), vals: vals}}
}

// Merge returns the union of layers, a later layer's value replacing an
// earlier one's for the same key: Merge(instanceOutputs, bindingOutputs)
// gives the outputs a binding's credentials are built from. The layers
// are not modified.
func Merge(layers ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, l := range layers {
		maps.Copy(out, l)
	}
	return out
}

// Len is the number of keys.
func (c Credentials) Len() int {
	if c.s == nil {
		return 0
	}
	return len(c.s.keys)
}

// Keys returns the keys in ascending order.
func (c Credentials) Keys() []string {
	if c.s == nil {
		return []string{}
	}
	return slices.Clone(c.s.keys)
}

// Has reports whether key is present.
func (c Credentials) Has(key string) bool {
	_, ok := c.Value(key)
	return ok
}

// Value returns the value of key and whether it is present.
func (c Credentials) Value(key string) (string, bool) {
	if c.s == nil {
		return "", false
	}
	v, ok := c.s.vals[key]
	return v, ok
}

// Map returns a copy of the pairs; changing it does not change c.
func (c Credentials) Map() map[string]string {
	if c.s == nil {
		return map[string]string{}
	}
	return maps.Clone(c.s.vals)
}

// All yields the pairs in ascending key order.
func (c Credentials) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		if c.s == nil {
			return
		}
		for _, k := range c.s.keys {
			if !yield(k, c.s.vals[k]) {
				return
			}
		}
	}
}

// Object returns the pairs as the OSB credentials object: a new
// map[string]any of strings, the shape broker.Credentials takes.
func (c Credentials) Object() map[string]any {
	out := make(map[string]any, c.Len())
	for k, v := range c.All() {
		out[k] = v
	}
	return out
}

// JSON encodes the pairs, values included, as a JSON object with the keys
// in ascending order. It is the explicit way to encode Credentials;
// json.Marshal prints keys only (see [Credentials.MarshalJSON]).
func (c Credentials) JSON() ([]byte, error) {
	return json.Marshal(c.Map())
}

// String lists the keys, never the values:
// "Credentials{QUEUE_ARN:[redacted] QUEUE_URL:[redacted]}".
func (c Credentials) String() string { return "Credentials" + c.redacted() }

// GoString is String, so %#v cannot print values either.
func (c Credentials) GoString() string { return c.String() }

// Format prints String for every verb, so no verb (%d, %x, %+v) can print
// values.
func (c Credentials) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue implements [slog.LogValuer] with the keys only. slog resolves
// it before any handler runs, so JSON handlers print keys only too.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.redacted()) }

// MarshalText implements [encoding.TextMarshaler] with String.
func (c Credentials) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// MarshalJSON encodes String as a JSON string: keys only, like every
// other implicit rendering. Credentials end up inside structs that are
// logged or stored by encoders nobody audits (zap, logrus, an error
// report); an implicit encoding that printed values would make each of
// those a leak. The OSB response, the one place that needs the values,
// takes them explicitly from [OSB] or [Credentials.Object], and storage
// from [Credentials.JSON]. There is no UnmarshalJSON: use [ParseJSON].
func (c Credentials) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

// ParseJSON decodes a JSON object of strings, as [Credentials.JSON]
// writes it. Its errors never quote the input.
func ParseJSON(data []byte) (Credentials, error) {
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		// json errors can quote input ("invalid character 'x' in string"
		// is harmless, but a type error names the offending value's kind
		// only); keep only the category to be safe.
		return Credentials{}, fmt.Errorf("binding: decoding credentials: %w", errNotCredentials)
	}
	return FromMap(m), nil
}

func (c Credentials) redacted() string {
	var b strings.Builder
	b.WriteByte('{')
	if c.s != nil {
		for i, k := range c.s.keys {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(k)
			b.WriteString(":[redacted]")
		}
	}
	b.WriteByte('}')
	return b.String()
}
