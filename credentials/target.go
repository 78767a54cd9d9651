package credentials

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"time"
)

// Limits that AWS STS and IAM put on the values of a [Target].
const (
	// MinDuration and MaxDuration bound Target.Duration and
	// Options.Duration: the shortest and longest session STS AssumeRole
	// grants. A role's own MaxSessionDuration may be shorter than
	// MaxDuration; STS then refuses the call.
	MinDuration = 15 * time.Minute
	MaxDuration = 12 * time.Hour
)

// ErrInvalidTarget is matched (with errors.Is) by every error that
// [Source.Config] returns for a Target that breaks the rules of AWS or of
// this package. The concrete type is [*ValidationError].
var ErrInvalidTarget = errors.New("credentials: invalid target")

// ValidationError reports one invalid field of a [Target] or of
// [Options]. Its text names the field and the rule and never contains the
// value of a sensitive field (ExternalID).
type ValidationError struct {
	// Field is the name of the Go field, e.g. "AccountID", "ExternalID",
	// or "Options.Duration".
	Field string
	// Reason says which rule the value breaks.
	Reason string
}

func (e *ValidationError) Error() string {
	return "credentials: invalid " + e.Field + ": " + e.Reason
}

// Is reports whether target is [ErrInvalidTarget].
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidTarget }

// Target is what an instance runs as: an AWS account, a role to assume in
// it, and a region. The zero Target means "the broker's own identity in
// the default region"; a Target with only Region set means the broker's own
// identity in that region.
//
// A caller that provisions an instance with a Target stores the Target with
// the instance, so that update, bind and deprovision use the same account,
// role and region; this package keeps no record of which instance used
// which Target.
//
// String, GoString and LogValue print the account, role and region but
// never the ExternalID, which is treated as a secret shared between the
// broker and the account owner. Encoding a Target (JSON, gob) keeps every
// field, because the instance store needs them back: store it as you would
// store a credential reference.
type Target struct {
	// AccountID is the 12-digit ID of the account to assume a role in.
	// Required with RoleName; optional with RoleARN, and then it must
	// agree with the account in the ARN.
	AccountID string `json:"account_id,omitempty"`
	// RoleName is the name (without path) of the role to assume in
	// AccountID. For a role with a path, set RoleARN instead.
	RoleName string `json:"role_name,omitempty"`
	// RoleARN is the full ARN of the role to assume. It wins over
	// AccountID+RoleName, which must then be empty or agree with it.
	RoleARN string `json:"role_arn,omitempty"`
	// ExternalID is sent as the ExternalId of AssumeRole, for roles whose
	// trust policy requires one (the confused-deputy guard). 2 to 1224
	// characters of letters, digits and +=,.@:/-_ .
	ExternalID string `json:"external_id,omitempty"`
	// Region is the AWS region of the returned configuration. Empty means
	// Options.DefaultRegion.
	Region string `json:"region,omitempty"`
	// SessionName is the RoleSessionName of AssumeRole; it appears in the
	// target account's CloudTrail. Empty means Options.RoleSessionName.
	SessionName string `json:"session_name,omitempty"`
	// Duration is how long each assumed session lasts, 15m to 12h. Zero
	// means Options.Duration.
	Duration time.Duration `json:"duration,omitempty"`
}

// IsZero reports whether t assumes no role, i.e. stands for the broker's
// own identity (in t.Region, or in the default region).
func (t Target) IsZero() bool {
	return t.AccountID == "" && t.RoleName == "" && t.RoleARN == "" &&
		t.ExternalID == "" && t.SessionName == "" && t.Duration == 0
}

// String prints the account, role and region of t, never its external ID.
func (t Target) String() string {
	var b strings.Builder
	b.WriteString("Target{")
	sep := ""
	add := func(k, v string) {
		if v == "" {
			return
		}
		b.WriteString(sep + k + "=" + v)
		sep = " "
	}
	add("account", t.AccountID)
	add("role", t.role())
	add("region", t.Region)
	add("session", t.SessionName)
	if t.Duration != 0 {
		add("duration", t.Duration.String())
	}
	if t.ExternalID != "" {
		add("external_id", "[redacted]")
	}
	if sep == "" {
		b.WriteString("broker identity")
	}
	b.WriteString("}")
	return b.String()
}

// GoString is String, so that %#v cannot print the external ID either.
func (t Target) GoString() string { return t.String() }

// LogValue logs the account, role and region of t, never its external ID.
func (t Target) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, 6)
	if t.AccountID != "" {
		attrs = append(attrs, slog.String("account", t.AccountID))
	}
	if r := t.role(); r != "" {
		attrs = append(attrs, slog.String("role", r))
	}
	if t.Region != "" {
		attrs = append(attrs, slog.String("region", t.Region))
	}
	if t.SessionName != "" {
		attrs = append(attrs, slog.String("session", t.SessionName))
	}
	if t.Duration != 0 {
		attrs = append(attrs, slog.Duration("duration", t.Duration))
	}
	if t.ExternalID != "" {
		attrs = append(attrs, slog.String("external_id", "[redacted]"))
	}
	return slog.GroupValue(attrs...)
}

// Format prints String for every verb, so no verb (%d, %x, %+v) can print
// the external ID. (A Target held in an unexported field of another
// struct is printed field by field by fmt, bypassing this: log Targets
// themselves, not structs that hold them.)
func (t Target) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, t.String()) }

func (t Target) role() string {
	if t.RoleARN != "" {
		return t.RoleARN
	}
	return t.RoleName
}

var (
	accountRE     = regexp.MustCompile(`^[0-9]{12}$`)
	roleNameRE    = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	externalIDRE  = regexp.MustCompile(`^[\w+=,.@:/-]+$`) // length checked apart: RE2 repeats stop at 1000
	sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	partitionRE   = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	regionRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	// roleARNRE matches arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME; the
	// path is at most 512 characters, the name at most 64.
	roleARNRE = regexp.MustCompile(`^arn:([a-z][a-z0-9-]{0,62}):iam::([0-9]{12}):role/((?:[\x21-\x7e]{0,510}/)?)([\w+=,.@-]{1,64})$`)
)

func invalid(field, reason string) error { return &ValidationError{Field: field, Reason: reason} }

// resolved is a validated Target with the defaults of a Source applied.
type resolved struct {
	roleARN     string // empty for the broker's own identity
	account     string
	externalID  string
	region      string
	sessionName string
	duration    time.Duration
}

// resolve validates t and fills in the defaults of o.
func (o *Options) resolve(t Target) (resolved, error) {
	r := resolved{
		region:      t.Region,
		externalID:  t.ExternalID,
		sessionName: t.SessionName,
		duration:    t.Duration,
	}
	if r.region == "" {
		r.region = o.DefaultRegion
	}
	if r.region == "" {
		return r, invalid("Region", "empty, and neither Options.DefaultRegion nor Options.Base.Region is set")
	}
	if !regionRE.MatchString(r.region) {
		return r, invalid("Region", fmt.Sprintf("%q is not a region name", r.region))
	}
	if t.AccountID != "" && !accountRE.MatchString(t.AccountID) {
		return r, invalid("AccountID", fmt.Sprintf("%q is not 12 digits", t.AccountID))
	}
	if t.RoleName != "" && !roleNameRE.MatchString(t.RoleName) {
		return r, invalid("RoleName", fmt.Sprintf("%q is not 1 to 64 characters of letters, digits and +=,.@_- (for a role with a path, set RoleARN)", t.RoleName))
	}
	switch {
	case t.RoleARN != "":
		m := roleARNRE.FindStringSubmatch(t.RoleARN)
		if m == nil {
			return r, invalid("RoleARN", fmt.Sprintf("%q is not arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME", t.RoleARN))
		}
		if t.AccountID != "" && t.AccountID != m[2] {
			return r, invalid("AccountID", fmt.Sprintf("%q differs from the account %q of RoleARN", t.AccountID, m[2]))
		}
		if t.RoleName != "" && t.RoleName != m[4] {
			return r, invalid("RoleName", fmt.Sprintf("%q differs from the role name %q of RoleARN", t.RoleName, m[4]))
		}
		r.roleARN, r.account = t.RoleARN, m[2]
	case t.RoleName != "":
		if t.AccountID == "" {
			return r, invalid("AccountID", "required with RoleName")
		}
		r.roleARN = "arn:" + o.Partition + ":iam::" + t.AccountID + ":role/" + t.RoleName
		r.account = t.AccountID
	case t.AccountID != "":
		return r, invalid("RoleName", "required with AccountID (or set RoleARN)")
	default:
		// The broker's own identity: the assume-role fields mean nothing.
		for _, f := range []struct {
			name string
			set  bool
		}{{"ExternalID", t.ExternalID != ""}, {"SessionName", t.SessionName != ""}, {"Duration", t.Duration != 0}} {
			if f.set {
				return r, invalid(f.name, "set without a role to assume (set AccountID and RoleName, or RoleARN)")
			}
		}
		return r, nil
	}
	// Never echo the external ID: it is a shared secret.
	if n := len(t.ExternalID); n != 0 && (n < 2 || n > 1224 || !externalIDRE.MatchString(t.ExternalID)) {
		return r, invalid("ExternalID", "must be 2 to 1224 characters of letters, digits and +=,.@:/-_")
	}
	if r.sessionName == "" {
		r.sessionName = o.RoleSessionName
	} else if !sessionNameRE.MatchString(r.sessionName) {
		return r, invalid("SessionName", fmt.Sprintf("%q is not 2 to 64 characters of letters, digits and +=,.@_-", r.sessionName))
	}
	if r.duration == 0 {
		r.duration = o.Duration
	} else if err := checkDuration("Duration", r.duration); err != nil {
		return r, err
	}
	return r, nil
}

func checkDuration(field string, d time.Duration) error {
	if d < MinDuration || d > MaxDuration || d%time.Second != 0 {
		return invalid(field, fmt.Sprintf("%v is not a whole number of seconds from %v to %v", d, MinDuration, MaxDuration))
	}
	return nil
}
