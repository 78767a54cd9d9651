package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestHealthListen: -health-listen answers GET /healthz with 200 "ok"
// without credentials and nothing else; the OSB listener does not serve
// it without credentials; after the shutdown the health port is closed.
func TestHealthListen(t *testing.T) {
	motoEnv(t)
	p := startProgram(t, "", "-health-listen", "127.0.0.1:0")
	m := regexp.MustCompile(`msg="serving health checks" url=(http://\S+)`).FindStringSubmatch(p.Stderr.String())
	if m == nil {
		t.Fatalf("no health URL in the log:\n%s", p.Stderr)
	}
	healthURL := m[1]
	base := strings.TrimSuffix(healthURL, healthPath)
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(method, url string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(http.MethodGet, healthURL); code != http.StatusOK || body != "ok\n" {
		t.Errorf("GET %s = %d %q, want 200 \"ok\\n\"", healthURL, code, body)
	}
	for _, tt := range []struct {
		method, url string
		want        int
	}{
		{http.MethodPost, healthURL, http.StatusMethodNotAllowed},
		{http.MethodGet, base + "/v2/catalog", http.StatusNotFound},
		{http.MethodGet, base + "/", http.StatusNotFound},
		{http.MethodGet, p.URL + healthPath, http.StatusUnauthorized},
	} {
		if code, body := get(tt.method, tt.url); code != tt.want {
			t.Errorf("%s %s = %d %q, want %d", tt.method, tt.url, code, body, tt.want)
		}
	}
	if code := p.Stop(t); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if _, err := client.Get(healthURL); err == nil {
		t.Errorf("GET %s answered after the shutdown", healthURL)
	}
}
