package main

import (
	"encoding/json"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// redacted stands for every value of the printed Secret.
const redacted = "<redacted>"

// writeRedactedSecret writes the Kubernetes Secret a platform would store
// for a binding, with creds' keys as they are and every value replaced by
// "<redacted>": the demo shows the Secret's shape, not its contents.
// (examples/osb's bind -o secret prints the real values, for kubectl.)
func writeRedactedSecret(w io.Writer, name, namespace string, creds map[string]any) {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Secret\nmetadata:\n")
	b.WriteString("  name: " + yamlScalar(name) + "\n")
	if namespace != "" {
		b.WriteString("  namespace: " + yamlScalar(namespace) + "\n")
	}
	b.WriteString("type: Opaque\nstringData:\n")
	for _, k := range slices.Sorted(maps.Keys(creds)) {
		b.WriteString("  " + yamlScalar(k) + ": " + yamlQuoted(redacted) + "\n")
	}
	_, _ = io.WriteString(w, b.String())
}

// plainScalar is what YAML reads as a string without quotes, leaving out
// the words YAML 1.1 reads as booleans or null.
var plainScalar = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

func yamlScalar(s string) string {
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null":
		return yamlQuoted(s)
	}
	if plainScalar.MatchString(s) {
		return s
	}
	return yamlQuoted(s)
}

// yamlQuoted writes s as a double-quoted YAML scalar: JSON's string
// escapes are a subset of YAML's.
func yamlQuoted(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}
