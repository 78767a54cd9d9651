package catalog_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/catalog"
)

func TestDurationJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		reason  string
		in      string
		want    catalog.Duration
		wantErr string
	}{
		{reason: "hours, as a lifetime is usually written", in: `"720h"`, want: catalog.Duration(720 * time.Hour)},
		{reason: "several units", in: `"1h30m"`, want: catalog.Duration(90 * time.Minute)},
		{reason: "zero needs no unit", in: `"0"`, want: 0},
		{reason: "null leaves the value alone", in: `null`, want: 0},
		{reason: "a number has no unit", in: `3600`, wantErr: `catalog: a duration must be a string such as "720h", not 3600`},
		{reason: "a unit is required", in: `"3600"`, wantErr: `catalog: "3600" is not a duration such as "720h" or "90m"`},
		{reason: "days are not a Go unit", in: `"30d"`, wantErr: `catalog: "30d" is not a duration such as "720h" or "90m"`},
		{reason: "a lifetime cannot be negative", in: `"-1h"`, wantErr: `catalog: duration "-1h" must not be negative`},
	}
	for _, tt := range tests {
		var got catalog.Duration
		err := json.Unmarshal([]byte(tt.in), &got)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if gotErr != tt.wantErr || got != tt.want {
			t.Errorf("%s: Unmarshal(%s) = %v, %q; want %v, %q", tt.reason, tt.in, got, gotErr, tt.want, tt.wantErr)
		}
	}
}

func TestDurationRoundTrip(t *testing.T) {
	t.Parallel()
	in := catalog.CredentialsSpec{Mapping: catalog.MappingServiceBinding, Lifetime: catalog.Duration(720 * time.Hour)}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"mapping":"servicebinding","lifetime":"720h0m0s"}`; string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
	var out catalog.CredentialsSpec
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	// A zero lifetime is left out.
	if b, _ := json.Marshal(catalog.CredentialsSpec{}); string(b) != `{}` {
		t.Errorf("Marshal(zero) = %s, want {}", b)
	}
}

func TestDurationText(t *testing.T) {
	t.Parallel()
	d := catalog.Duration(90 * time.Minute)
	if got := d.String(); got != "1h30m0s" {
		t.Errorf("String = %q", got)
	}
	b, err := d.MarshalText()
	if err != nil || string(b) != "1h30m0s" {
		t.Errorf("MarshalText = %s, %v", b, err)
	}
	var back catalog.Duration
	if err := back.UnmarshalText(b); err != nil || back != d {
		t.Errorf("UnmarshalText(%s) = %v, %v", b, back, err)
	}
	neg := catalog.Duration(-time.Hour)
	if _, err := neg.MarshalText(); err == nil || err.Error() != "catalog: duration -1h0m0s must not be negative" {
		t.Errorf("MarshalText(-1h) error = %v", err)
	}
	if _, err := json.Marshal(neg); err == nil {
		t.Error("json.Marshal of a negative Duration succeeded: it could not be read back")
	}
	if err := back.UnmarshalText([]byte("soon")); err == nil || err.Error() != `catalog: "soon" is not a duration such as "720h" or "90m"` {
		t.Errorf("UnmarshalText(soon) error = %v", err)
	}
}
