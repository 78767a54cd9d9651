package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/internal/secretyaml"
)

// table writes aligned columns.
type table struct{ w *tabwriter.Writer }

// newTable starts a table, with a header row if header is not empty.
func newTable(w io.Writer, header ...string) *table {
	t := &table{w: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

// row writes one row; tabs and newlines in cells become spaces, so that a
// broker's text cannot break the columns.
func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return ' '
			}
			return r
		}, c)
	}
	fmt.Fprintln(t.w, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.w.Flush() }

func statusText(code int) string {
	return strconv.Itoa(code) + " " + http.StatusText(code)
}

func operationText(op string) string {
	if op == "" {
		return ""
	}
	return ", operation " + strconv.Quote(op)
}

func descriptionText(d string) string {
	if d == "" {
		return ""
	}
	return " (" + d + ")"
}

// rawJSON returns body for embedding in a JSON document, or nil when it is
// empty or not JSON.
func rawJSON(body []byte) json.RawMessage {
	if len(bytes.TrimSpace(body)) == 0 || !json.Valid(body) {
		return nil
	}
	return json.RawMessage(body)
}

// writeJSON writes a JSON document indented, followed by a newline.
func writeJSON(w io.Writer, body []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, body, "", "  "); err != nil {
		// Not JSON: write it as it came.
		buf.Reset()
		buf.Write(body)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

func writeLastOperation(w io.Writer, lo brokertest.LastOperation) error {
	t := newTable(w)
	t.row("STATE", string(lo.State))
	if lo.Description != "" {
		t.row("DESCRIPTION", lo.Description)
	}
	if lo.InstanceUsable != nil {
		t.row("INSTANCE USABLE", strconv.FormatBool(*lo.InstanceUsable))
	}
	if lo.UpdateRepeatable != nil {
		t.row("UPDATE REPEATABLE", strconv.FormatBool(*lo.UpdateRepeatable))
	}
	return t.flush()
}

// writeBinding prints a binding's credentials, values included: showing
// them is what bind and get-binding are for.
func writeBinding(w io.Writer, b brokertest.Binding) error {
	t := newTable(w, "CREDENTIAL", "VALUE")
	for _, k := range sortedKeys(b.Credentials) {
		t.row(k, valueText(b.Credentials[k]))
	}
	if b.Metadata != nil && b.Metadata.ExpiresAt != "" {
		t.row("", "")
		t.row("EXPIRES AT", b.Metadata.ExpiresAt)
	}
	for _, e := range b.Endpoints {
		t.row("ENDPOINT", fmt.Sprintf("%s %v (%s)", e.Host, e.Ports, e.Protocol))
	}
	if b.SyslogDrainURL != "" {
		t.row("SYSLOG DRAIN", b.SyslogDrainURL)
	}
	if b.RouteServiceURL != "" {
		t.row("ROUTE SERVICE", b.RouteServiceURL)
	}
	return t.flush()
}

// redactInstanceBody replaces the values of the secret parameters in a GET
// instance body with "<redacted>".
func redactInstanceBody(body []byte, secret []string) []byte {
	if len(secret) == 0 {
		return body
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	var params map[string]json.RawMessage
	if json.Unmarshal(m["parameters"], &params) != nil || params == nil {
		return body
	}
	for _, k := range secret {
		if _, ok := params[k]; ok {
			params[k] = json.RawMessage(`"<redacted>"`)
		}
	}
	p, err := json.Marshal(params)
	if err != nil {
		return body
	}
	m["parameters"] = p
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	return slices.Sorted(maps.Keys(m))
}

// valueText prints a JSON value: a string as it is, anything else as JSON.
func valueText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("<%T>", v)
	}
	return string(b)
}

func list(names []string) string {
	if len(names) == 0 {
		return "(nothing)"
	}
	return strings.Join(names, ", ")
}

// secretKey is the syntax of a Kubernetes Secret's data keys.
var secretKey = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)

func validSecretKey(k string) bool { return len(k) <= 253 && secretKey.MatchString(k) }

// writeSecret writes a Kubernetes Secret manifest holding creds under
// stringData, keys as they are. Values that are not strings are written as
// their JSON text, since a Secret holds strings only.
func writeSecret(w io.Writer, name, namespace string, creds map[string]any) error {
	data := make(map[string]string, len(creds))
	for k, v := range creds {
		data[k] = valueText(v)
	}
	return secretyaml.Write(w, name, namespace, data)
}
