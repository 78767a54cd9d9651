package main

import (
	"crypto/tls"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certRecheck is how often the certificate files are looked at again.
const certRecheck = time.Second

// certificates serves a TLS certificate from a certificate and a key
// file and reloads them when either changes (modification time or size),
// so that a renewed certificate (cert-manager, certbot) is served without
// a restart. The files are looked at, at most once per certRecheck, by
// the handshakes. A pair that does not load keeps the last good
// certificate in service and is logged (once per change), never fatal.
// Safe for concurrent use.
type certificates struct {
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp // of the files last loaded, or last found broken
	checked time.Time
}

// fileStamp identifies a version of a file.
type fileStamp struct {
	mod  time.Time
	size int64
}

// loadCertificates loads the pair once; an error here stops the program.
func loadCertificates(certFile, keyFile string, log *slog.Logger) (*certificates, error) {
	c := &certificates{certFile: certFile, keyFile: keyFile, log: log, now: time.Now}
	stamp := c.stamps()
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	c.cert, c.stamp, c.checked = &cert, stamp, c.now()
	return c, nil
}

func (c *certificates) stamps() [2]fileStamp {
	var s [2]fileStamp
	for i, f := range []string{c.certFile, c.keyFile} {
		if fi, err := os.Stat(f); err == nil {
			s[i] = fileStamp{fi.ModTime(), fi.Size()}
		}
	}
	return s
}

// GetCertificate is tls.Config.GetCertificate: the current certificate,
// reloaded first if the files changed.
func (c *certificates) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); now.Sub(c.checked) >= certRecheck {
		c.checked = now
		if stamp := c.stamps(); stamp != c.stamp {
			c.stamp = stamp
			cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
			if err != nil {
				c.log.Warn("the TLS certificate files changed but do not load; still serving the previous certificate", "error", err)
			} else {
				c.cert = &cert
				c.log.Info("reloaded the TLS certificate", "file", c.certFile)
			}
		}
	}
	return c.cert, nil
}
