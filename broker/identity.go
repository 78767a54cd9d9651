package broker

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
)

// OriginatingIdentity is the parsed X-Broker-API-Originating-Identity
// header: the platform user on whose behalf a request is made.
type OriginatingIdentity struct {
	// Platform is the header's first word, such as "kubernetes" or
	// "cloudfoundry".
	Platform string
	// Value is the decoded JSON object, whatever the platform.
	Value map[string]any
	// Kubernetes is set when Platform is "kubernetes".
	Kubernetes *KubernetesUser
	// CloudFoundry is set when Platform is "cloudfoundry".
	CloudFoundry *CloudFoundryUser
}

// KubernetesUser is the user.info object a Kubernetes platform sends.
type KubernetesUser struct {
	Username string              `json:"username"`
	UID      string              `json:"uid"`
	Groups   []string            `json:"groups"`
	Extra    map[string][]string `json:"extra"`
}

// CloudFoundryUser is the identity a Cloud Foundry platform sends.
type CloudFoundryUser struct {
	UserID string `json:"user_id"`
}

// User returns a short name for logs: the Kubernetes username, the Cloud
// Foundry user ID, or "".
func (o *OriginatingIdentity) User() string {
	switch {
	case o == nil:
		return ""
	case o.Kubernetes != nil:
		return o.Kubernetes.Username
	case o.CloudFoundry != nil:
		return o.CloudFoundry.UserID
	}
	return ""
}

// LogValue implements [slog.LogValuer]: the platform and the user only.
func (o *OriginatingIdentity) LogValue() slog.Value {
	if o == nil {
		return slog.Value{}
	}
	return slog.GroupValue(slog.String("platform", o.Platform), slog.String("user", o.User()))
}

// ParseOriginatingIdentity parses an X-Broker-API-Originating-Identity
// value: a platform name, one space, and a base64-encoded JSON object. It
// is lenient where the spec allows it to be (padding may be missing, the
// URL-safe alphabet is accepted, extra whitespace is ignored), and reports
// ok=false for anything else.
func ParseOriginatingIdentity(header string) (id *OriginatingIdentity, ok bool) {
	platform, encoded, found := strings.Cut(strings.TrimSpace(header), " ")
	encoded = strings.TrimSpace(encoded)
	if !found || platform == "" || encoded == "" {
		return nil, false
	}
	raw, err := decodeBase64(encoded)
	if err != nil {
		return nil, false
	}
	var value map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&value); err != nil || value == nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false // trailing data after the object
	}
	id = &OriginatingIdentity{Platform: platform, Value: value}
	switch platform {
	case PlatformKubernetes:
		var u KubernetesUser
		if json.Unmarshal(raw, &u) == nil {
			id.Kubernetes = &u
		}
	case PlatformCloudFoundry:
		var u CloudFoundryUser
		if json.Unmarshal(raw, &u) == nil {
			id.CloudFoundry = &u
		}
	}
	return id, true
}

func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	_, err := base64.StdEncoding.DecodeString(s)
	return nil, err
}
