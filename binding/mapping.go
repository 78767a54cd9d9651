package binding

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Mapping is how output names become credential keys, chosen per
// service. The zero value is AsIs.
type Mapping uint8

const (
	// AsIs keeps the output names: QueueURL stays QueueURL. The old AWS
	// broker did this for services with the "outputsAsIs" or
	// "cloudFoundry" metadata.
	AsIs Mapping = iota
	// ScreamingSnake is the old AWS broker's default: QueueURL becomes
	// QUEUE_URL, BucketArn BUCKET_ARN, DBName DB_NAME. Its rule, kept
	// exactly for compatibility, is that of toScreamingSnakeCase in
	// awslabs/aws-servicebroker pkg/broker/util.go: every rune is
	// upper-cased, and an '_' goes before a rune that is neither the
	// first nor the last, is upper case, and has a lower-case rune
	// before or after it. So acronyms stay whole (QueueARN → QUEUE_ARN),
	// digits never split (S3Bucket → S3_BUCKET but Bucket2 → BUCKET2),
	// and a single trailing capital does not split (PortA → PORTA).
	// Existing underscores are kept (QUEUE_URL stays QUEUE_URL).
	//
	// The old broker also dropped outputs whose names began with
	// "PolicyArn" and named UserKeyId and UserSecretKey
	// <SERVICE>_USER_KEY_ID and <SERVICE>_USER_SECRET_KEY; ScreamingSnake
	// does neither (a mapping does not know the service): add
	// [RemoveKey] and [RenameKey] transforms where a service needs them.
	ScreamingSnake
	// ServiceBinding produces the entry names of the Service Binding
	// specification for Kubernetes (servicebinding.io): names are split
	// into words at case changes, '_', '-', '.' and before a capital
	// that follows a digit, lower-cased and joined with '-' (QueueURL →
	// queue-url, S3Bucket → s3-bucket), matching the spec's recommended
	// [a-z0-9\-\.]. Outputs whose meaning is certain get the
	// well-known names, but only when the value meets the spec's
	// requirement for that name (otherwise, as the spec demands, the
	// name stays the kebab one):
	//
	//	host      Host, Hostname, EndpointAddress (value non-empty, no
	//	          spaces, '/', '@', or a single ':')
	//	port      Port, EndpointPort (value a number 1–65535)
	//	uri       URI, URL (value an absolute URI)
	//	username  Username, UserName, MasterUsername, MasterUserName
	//	password  Password, MasterPassword, MasterUserPassword
	//
	// Names such as QueueURL are not renamed to uri: a queue has a
	// dead-letter queue URL too, and which one is "the" URI is the
	// service author's call, made with a [RenameKey] transform.
	ServiceBinding
)

var mappingNames = [...]string{AsIs: "as-is", ScreamingSnake: "screaming-snake", ServiceBinding: "servicebinding"}

// String returns "as-is", "screaming-snake" or "servicebinding".
func (m Mapping) String() string {
	if int(m) < len(mappingNames) {
		return mappingNames[m]
	}
	return "Mapping(" + strconv.Itoa(int(m)) + ")"
}

// MarshalText implements [encoding.TextMarshaler] with String, so a
// catalog can spell the mapping in YAML or JSON.
func (m Mapping) MarshalText() ([]byte, error) {
	if int(m) >= len(mappingNames) {
		return nil, fmt.Errorf("binding: unknown mapping %d", m)
	}
	return []byte(m.String()), nil
}

// UnmarshalText accepts what MarshalText writes; "" is AsIs.
func (m *Mapping) UnmarshalText(b []byte) error {
	s := string(b)
	if s == "" {
		*m = AsIs
		return nil
	}
	i := slices.Index(mappingNames[:], s)
	if i < 0 {
		return fmt.Errorf("binding: unknown mapping %q (want as-is, screaming-snake or servicebinding)", s)
	}
	*m = Mapping(i)
	return nil
}

// Map renames the keys of outputs by m and returns a new map; outputs is
// not modified. Two outputs mapping to the same key are an [*Error] with
// Op "map" wrapping [ErrDuplicateKey] that names both outputs.
func (m Mapping) Map(outputs map[string]string) (map[string]string, error) {
	if int(m) >= len(mappingNames) {
		return nil, fmt.Errorf("binding: unknown mapping %d", m)
	}
	out := make(map[string]string, len(outputs))
	from := make(map[string]string, len(outputs))
	for _, k := range slices.Sorted(maps.Keys(outputs)) {
		v := outputs[k]
		var nk string
		switch m {
		case AsIs:
			nk = k
		case ScreamingSnake:
			nk = screamingSnake(k)
		case ServiceBinding:
			nk = serviceBindingName(k, v)
		}
		if prev, dup := from[nk]; dup {
			return nil, &Error{Op: "map", Key: nk, Err: fmt.Errorf("%w: outputs %q and %q both map to it", ErrDuplicateKey, prev, k)}
		}
		from[nk] = k
		out[nk] = v
	}
	return out, nil
}

// screamingSnake is the old AWS broker's toScreamingSnakeCase rule (see
// ScreamingSnake).
func screamingSnake(s string) string {
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		if i > 0 && i < len(rs)-1 && unicode.IsUpper(r) &&
			(unicode.IsLower(rs[i-1]) || unicode.IsLower(rs[i+1])) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// kebab splits s into words and joins them lower-cased with '-'.
func kebab(s string) string {
	rs := []rune(s)
	var b strings.Builder
	pendingSep := false
	for i, r := range rs {
		if r == '_' || r == '-' || r == '.' || unicode.IsSpace(r) {
			pendingSep = b.Len() > 0
			continue
		}
		if i > 0 && unicode.IsUpper(r) {
			prev := rs[i-1]
			next := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && next) {
				pendingSep = b.Len() > 0
			}
		}
		if pendingSep {
			b.WriteByte('-')
			pendingSep = false
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// wellKnown maps kebab names to servicebinding.io well-known entries.
var wellKnown = map[string]string{
	"host":                 "host",
	"hostname":             "host",
	"endpoint-address":     "host",
	"port":                 "port",
	"endpoint-port":        "port",
	"uri":                  "uri",
	"url":                  "uri",
	"username":             "username",
	"user-name":            "username",
	"master-username":      "username",
	"master-user-name":     "username",
	"password":             "password",
	"master-password":      "password",
	"master-user-password": "password",
}

func serviceBindingName(output, value string) string {
	k := kebab(output)
	w, ok := wellKnown[k]
	if !ok || !meetsRequirement(w, value) {
		return k
	}
	return w
}

// meetsRequirement checks value against the spec's requirement for the
// well-known entry name.
func meetsRequirement(name, value string) bool {
	switch name {
	case "host":
		if value == "" || strings.ContainsAny(value, " /\t\n@") {
			return false
		}
		// A colon is allowed only in an IPv6 address, which has two.
		return strings.Count(value, ":") != 1
	case "port":
		n, err := strconv.Atoi(value)
		return err == nil && n >= 1 && n <= 65535
	case "uri":
		u, err := url.Parse(value)
		return err == nil && u.IsAbs()
	}
	return true // username, password: any string
}
