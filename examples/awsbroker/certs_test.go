package main

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"os"
	"testing"
	"time"
)

// TestCertificatesReload: a certificate written over the files is served
// from the next check on; a broken pair keeps the last good one.
func TestCertificatesReload(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t)
	cert2, key2, _ := selfSigned(t)
	c, err := loadCertificates(certFile, keyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c.now = func() time.Time { return now }
	serial := func() string {
		t.Helper()
		got, err := c.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		x, err := x509.ParseCertificate(got.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return string(x.Raw)
	}
	first := serial()
	copyFile := func(from, to string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
		// A renewal's files are newer: make sure the stamp changes on
		// file systems with coarse times.
		now = now.Add(time.Hour)
		if err := os.Chtimes(to, now, now); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(cert2, certFile)
	copyFile(key2, keyFile)
	if serial() == first {
		t.Fatal("after the files were replaced, GetCertificate still returns the first certificate")
	}
	second := serial()
	if err := os.WriteFile(certFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	if got := serial(); got != second {
		t.Error("a broken certificate file replaced the certificate in service")
	}
	// Within certRecheck, the files are not looked at.
	copyFile(cert2, certFile)
	before := c.checked
	now = before.Add(certRecheck / 2)
	_ = serial()
	if !c.checked.Equal(before) {
		t.Error("the files were checked again within certRecheck")
	}
}
