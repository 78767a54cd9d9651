// Package secretyaml writes a binding's credentials as the manifest of a
// Kubernetes Secret, for the example programs (the demo and the OSB
// client) that show what a platform would store.
package secretyaml

import (
	"encoding/json"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Write writes an Opaque v1 Secret named name (in namespace, if not empty)
// whose stringData holds data, keys sorted, values double-quoted.
func Write(w io.Writer, name, namespace string, data map[string]string) error {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Secret\nmetadata:\n")
	b.WriteString("  name: " + scalar(name) + "\n")
	if namespace != "" {
		b.WriteString("  namespace: " + scalar(namespace) + "\n")
	}
	b.WriteString("type: Opaque\n")
	if len(data) == 0 {
		b.WriteString("stringData: {}\n")
	} else {
		b.WriteString("stringData:\n")
		for _, k := range slices.Sorted(maps.Keys(data)) {
			b.WriteString("  " + scalar(k) + ": " + quoted(data[k]) + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// plainScalar is what YAML reads as a string without quotes, leaving out
// the words YAML 1.1 reads as booleans or null.
var plainScalar = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// scalar writes s plain when YAML reads it back as the same string, else
// quoted.
func scalar(s string) string {
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null":
		return quoted(s)
	}
	if plainScalar.MatchString(s) {
		return s
	}
	return quoted(s)
}

// quoted writes s as a double-quoted YAML scalar: JSON's string escapes
// are a subset of YAML's double-quoted ones, so a JSON string is one.
func quoted(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}
