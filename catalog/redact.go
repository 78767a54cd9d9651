package catalog

import (
	"fmt"
	"log/slog"
)

// redacted replaces a secret in text and logs.
const redacted = "REDACTED"

// String formats d with its Secret hidden, so that printing a
// DashboardClient never reveals it.
func (d DashboardClient) String() string {
	return fmt.Sprintf("{ID:%s Secret:%s RedirectURI:%s}", d.ID, redacted, d.RedirectURI)
}

// GoString is like String, for the %#v verb.
func (d DashboardClient) GoString() string {
	return fmt.Sprintf("catalog.DashboardClient{ID:%q, Secret:%q, RedirectURI:%q}", d.ID, redacted, d.RedirectURI)
}

// LogValue implements [slog.LogValuer] with the Secret hidden.
func (d DashboardClient) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", d.ID),
		slog.String("secret", redacted),
		slog.String("redirect_uri", d.RedirectURI),
	)
}

// Format prints String (GoString for %#v) for every verb, so no verb can
// print the Secret.
func (d DashboardClient) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = fmt.Fprint(f, d.GoString())
		return
	}
	_, _ = fmt.Fprint(f, d.String())
}
