package proof

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/internal/canary"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with serial
// to certFile and its key to keyFile, and returns the certificate.
func writeCert(t *testing.T, certFile, keyFile string, serial int64) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "awsbroker proof"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Written as a renewal tool does: new files renamed over the old.
	for _, f := range []struct {
		path string
		blk  *pem.Block
	}{{keyFile, &pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}}, {certFile, &pem.Block{Type: "CERTIFICATE", Bytes: der}}} {
		if err := os.WriteFile(f.path+".new", pem.EncodeToMemory(f.blk), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f.path+".new", f.path); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// served returns the serial number of the certificate a new TLS 1.2+
// connection to addr gets.
func served(addr string) (*big.Int, error) {
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the serial is what is checked
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// TestTLS: the broker serves TLS 1.2 and later only, and serves a renewed
// certificate written over its files without a restart.
func TestTLS(t *testing.T) {
	gate(t)
	a := newFakeAWS(t, "tls", nil, nil)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeCert(t, certFile, keyFile, 1)
	b := newBroker(t, dir, a.env(), "-tls-cert", certFile, "-tls-key", keyFile)
	b.start()
	addr := strings.TrimPrefix(b.URL(), "https://")
	if !strings.HasPrefix(b.URL(), "https://") {
		t.Fatalf("the broker serves %s, want https", b.URL())
	}
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: v, MaxVersion: v}) //nolint:gosec // old versions on purpose
		if err == nil {
			conn.Close()
			t.Errorf("a %s handshake succeeded", tls.VersionName(v))
		}
	}
	if s, err := served(addr); err != nil || s.Int64() != 1 {
		t.Fatalf("TLS 1.2+: serial %v, %v; want certificate 1", s, err)
	}
	writeCert(t, certFile, keyFile, 2)
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := served(addr)
		if err == nil && s.Int64() == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("5s after the certificate files were replaced, new connections get serial %v (%v), want 2: no reload without a restart", s, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A broken renewal keeps the last good certificate.
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if s, err := served(addr); err != nil || s.Int64() != 2 {
		t.Errorf("after a broken certificate file: serial %v, %v; want certificate 2 still", s, err)
	}
	b.checkLog(t)
	summary(t, "TLS 1.0/1.1 refused, 1.2+ served, certificate reloaded without a restart")
}

// rawRequest sends one request and returns the status, headers and body.
func rawRequest(t *testing.T, method, url string, body []byte, edit func(*http.Request)) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Broker-API-Version", "2.17")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// TestSecurity: authentication on every path and method with two
// credentials in force; failed authentications that all look the same;
// slow clients cut off; header and body limits; user parameters that
// cannot override the plan, reach parameters the catalog does not
// expose, or shape stack names, tags and template URLs; the secret
// parameter stored sealed and never logged.
func TestSecurity(t *testing.T) {
	gate(t)
	prefix := "sec" + brokertest.NewUUID()[:6]
	a := newFakeAWS(t, prefix, nil, nil)
	dir := t.TempDir()
	b := newBroker(t, dir, a.env(), "-templates", proofTemplates(t), "-stack-prefix", prefix, "-poll-interval", "100ms")
	b.start()
	base := b.URL()
	cat := catalogOf(t, b)
	sid, pid := planIDs(t, cat, "sqs", "standard")
	id, bid := brokertest.NewUUID(), brokertest.NewUUID()
	checks := 0

	t.Run("authentication", func(t *testing.T) {
		paths := []string{"/v2/catalog", "/v2/service_instances/" + id, "/v2/service_instances/" + id + "/last_operation",
			"/v2/service_instances/" + id + "/service_bindings/" + bid, "/v2/service_instances/" + id + "/service_bindings/" + bid + "/last_operation",
			"/", "/healthz", "/health", "/readyz", "/metrics", "/debug/pprof/", "/v2/unknown"}
		type answer struct {
			status int
			body   string
		}
		for _, path := range paths {
			for _, method := range []string{"GET", "PUT", "PATCH", "DELETE", "POST", "HEAD", "OPTIONS"} {
				var answers []answer
				for _, auth := range []func(*http.Request){
					func(*http.Request) {},
					func(r *http.Request) { r.SetBasicAuth(platformUser, "wrong") },
					func(r *http.Request) { r.SetBasicAuth("nobody", platformPassword) },
					func(r *http.Request) { r.SetBasicAuth(platformUser, platformPassword2) },
					func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+platformPassword) },
				} {
					status, hdr, body := rawRequest(t, method, base+path+"?accepts_incomplete=true", []byte(`{}`), auth)
					checks++
					if status != http.StatusUnauthorized {
						t.Errorf("%s %s without valid credentials: %d %s, want 401", method, path, status, body)
					}
					if bytes.Contains(body, []byte(platformUser)) || bytes.Contains(body, []byte("nobody")) {
						t.Errorf("%s %s: the 401 body names the user: %s", method, path, body)
					}
					if h := hdr.Get("Www-Authenticate"); h != "" && h != `Basic realm="Open Service Broker"` {
						t.Errorf("%s %s: WWW-Authenticate %q", method, path, h)
					}
					answers = append(answers, answer{status, string(body)})
				}
				for _, an := range answers[1:] {
					if an != answers[0] {
						t.Errorf("%s %s: failed authentications answer differently: %v", method, path, answers)
						break
					}
				}
			}
		}
		// Both credentials are in force at once, so either can be retired.
		for _, c := range []*brokertest.Client{b.clientAs(platformUser, platformPassword), b.clientAs(platformUser2, platformPassword2)} {
			if r, err := c.Catalog(t.Context()); err != nil || r.StatusCode != http.StatusOK {
				t.Errorf("catalog as %v: %v %v", c, r, err)
			}
		}
	})

	t.Run("slow client", func(t *testing.T) {
		t.Parallel()
		conn, err := net.Dial("tcp", strings.TrimPrefix(b.URL(), "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		if _, err := conn.Write([]byte("GET /v2/catalog HTTP/1.1\r\nHost: x\r\n")); err != nil {
			t.Fatal(err)
		}
		// One header byte every 500ms, forever: the server must hang up.
		closed := make(chan time.Duration, 1)
		go func() {
			_, _ = io.Copy(io.Discard, conn)
			closed <- time.Since(start)
		}()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case d := <-closed:
				if d > 12*time.Second {
					t.Errorf("a client sending its headers a byte at a time was cut off after %v, want within the 10s header timeout", d)
				}
				checks++
				return
			case <-tick.C:
				_, _ = conn.Write([]byte("X"))
				if time.Since(start) > 20*time.Second {
					t.Fatal("a client sending its headers a byte at a time kept its connection for 20s")
				}
			}
		}
	})

	auth := func(r *http.Request) { r.SetBasicAuth(platformUser, platformPassword) }
	t.Run("limits", func(t *testing.T) {
		status, _, body := rawRequest(t, "GET", base+"/v2/catalog", nil, func(r *http.Request) {
			auth(r)
			r.Header.Set("X-Big", strings.Repeat("a", 100<<10))
		})
		if status != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("100 KiB of headers: %d %s, want 431", status, body)
		}
		big := []byte(`{"service_id":"` + sid + `","plan_id":"` + pid + `","organization_guid":"o","space_guid":"s","parameters":{"VisibilityTimeout":"` + strings.Repeat("9", 2<<20) + `"}}`)
		status, _, body = rawRequest(t, "PUT", base+"/v2/service_instances/"+brokertest.NewUUID()+"?accepts_incomplete=true", big, auth)
		if status != http.StatusBadRequest && status != http.StatusRequestEntityTooLarge {
			t.Errorf("a 2 MiB body: %d %.200s, want 400 or 413", status, body)
		}
		checks += 2
	})

	t.Run("parameters", func(t *testing.T) {
		before := a.f.Calls()["CreateStack"]
		prov := func(id string, params string) (int, []byte) {
			status, _, body := rawRequest(t, "PUT", base+"/v2/service_instances/"+id+"?accepts_incomplete=true",
				[]byte(`{"service_id":"`+sid+`","plan_id":"`+pid+`","organization_guid":"o","space_guid":"s","parameters":`+params+`}`), auth)
			checks++
			return status, body
		}
		for _, params := range []string{
			`{"FifoQueue":"true"}`, // fixed by the plan
			`{"ContentBasedDeduplication":"true"}`,
			`{"RoleARN":"arn:aws:iam::123456789012:role/admin"}`, // not a parameter of the catalog
			`{"TemplateURL":"https://evil.example/t.yaml"}`,
			`{"StackName":"other"}`,
			`{"Tags":[{"Key":"brokerkit:instance-id","Value":"other"}]}`,
			`{"brokerkit:instance-id":"other"}`,
			`{"VisibilityTimeout":"40\nFifoQueue=true"}`,
			`{"VisibilityTimeout":{"Ref":"AWS::AccountId"}}`,
		} {
			if status, body := prov(brokertest.NewUUID(), params); status != http.StatusBadRequest {
				t.Errorf("provision with parameters %s: %d %s, want 400", params, status, body)
			}
		}
		if got := a.f.Calls()["CreateStack"]; got != before {
			t.Errorf("rejected provisions made %d CreateStack calls", got-before)
		}
		// IDs that would shape a stack name, if they were taken as given.
		for _, weird := range []string{"a;b", "-x", "ÄÖÜ", "x..y", "a%2Fb", "name.fifo", strings.Repeat("z", 200)} {
			status, body := prov(weird, `{"VisibilityTimeout":40}`)
			if status >= 500 {
				t.Errorf("provision of instance %q: %d %s", weird, status, body)
			}
		}
		status, body := prov(id, `{"`+secretParam+`":"`+canary.Plant(t)+`","VisibilityTimeout":40}`)
		if status != http.StatusAccepted {
			t.Fatalf("a good provision: %d %s", status, body)
		}
		lo, err := b.client().PollLastOperation(t.Context(), id, "", brokertest.PollOptions{Interval: 100 * time.Millisecond})
		if err != nil || lo.State != broker.Succeeded {
			t.Fatalf("the good provision: %+v %v", lo, err)
		}
		nameRE := regexp.MustCompile(`^` + prefix + `-[A-Za-z0-9-]{1,120}$`)
		stacks := a.f.Stacks()
		for _, s := range stacks {
			if !nameRE.MatchString(s.Name) || len(s.Name) > 128 {
				t.Errorf("stack name %q is not <prefix>-letters, digits and hyphens", s.Name)
			}
			if s.TemplateURL != "" || s.TemplateBody == "" {
				t.Errorf("stack %s: template URL %q, body of %d bytes; want the broker's own body", s.Name, s.TemplateURL, len(s.TemplateBody))
			}
			for k, v := range s.Tags {
				if !strings.HasPrefix(k, "brokerkit:") || len(v) > 256 || !utf8.ValidString(v) {
					t.Errorf("stack %s: tag %q=%q", s.Name, k, v)
				}
			}
			if s.Tags["brokerkit:instance-id"] == id && s.Parameters["FifoQueue"] != "false" {
				t.Errorf("stack %s: FifoQueue %q, want the plan's false", s.Name, s.Parameters["FifoQueue"])
			}
			if s.Tags["brokerkit:instance-id"] == id && s.Parameters[secretParam] != canary.Secret {
				t.Errorf("stack %s: the secret parameter did not reach CloudFormation", s.Name)
			}
		}
		// Updates cannot change the plan's values either.
		status, _, body = rawRequest(t, "PATCH", base+"/v2/service_instances/"+id+"?accepts_incomplete=true",
			[]byte(`{"service_id":"`+sid+`","plan_id":"`+pid+`","previous_values":{"plan_id":"`+pid+`"},"parameters":{"FifoQueue":"true"}}`), auth)
		if status != http.StatusBadRequest {
			t.Errorf("update of the plan-fixed FifoQueue: %d %s, want 400", status, body)
		}
		checks += len(stacks) + 1
	})

	t.Run("secrets at rest and in logs", func(t *testing.T) {
		b.stop() // the files are read whole, after bbolt closed them
		checkAtRest(t, dir, nil)
		b.checkLog(t)
		b.start()
		checks++
	})
	summary(t, "%d checks: authentication on 12 paths × 7 methods × 5 bad credentials, slow headers cut off, header and body limits, parameter injection, secrets at rest", checks)
}
