package catalog_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/brokerkit/brokerkit/catalog"
)

func TestDashboardClientHidesSecret(t *testing.T) {
	t.Parallel()
	d := &catalog.DashboardClient{ID: "client", Secret: "hunter2-SECRET", RedirectURI: "https://dash.example.com"}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("catalog", "dashboard_client", d, "value", *d)
	texts := map[string]string{
		"%v":   fmt.Sprintf("%v", d),
		"%+v":  fmt.Sprintf("%+v", *d),
		"%#v":  fmt.Sprintf("%#v", d),
		"%s":   fmt.Sprintf("%s", d),
		"slog": logged.String(),
	}
	for verb, s := range texts {
		if strings.Contains(s, "hunter2") || !strings.Contains(s, "client") {
			t.Errorf("%s = %s, want the id without the secret", verb, s)
		}
	}
	// The wire form carries the secret: the platform needs it.
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"id":"client","secret":"hunter2-SECRET","redirect_uri":"https://dash.example.com"}`; string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
}
