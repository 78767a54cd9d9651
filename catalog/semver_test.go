package catalog_test

import (
	"regexp"
	"testing"

	"github.com/brokerkit/brokerkit/catalog"
)

// semverRE is the regular expression that semver.org suggests for
// semantic version 2.0.0; ValidSemver must agree with it.
var semverRE = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

var semverCases = []struct {
	v      string
	want   bool
	reason string
}{
	{"0.0.0", true, "all zero"},
	{"1.2.3", true, "plain"},
	{"10.20.30", true, "multi-digit"},
	{"2.1.1+abcdef", true, "the spec's example: build metadata"},
	{"1.0.0-alpha", true, "pre-release"},
	{"1.0.0-alpha.1", true, "dotted pre-release"},
	{"1.0.0-0.3.7", true, "numeric pre-release identifiers"},
	{"1.0.0-x.7.z.92", true, "mixed pre-release"},
	{"1.0.0-x-y-z.--", true, "hyphens are identifier characters"},
	{"1.0.0-alpha+001", true, "build identifiers may have leading zeros"},
	{"1.0.0+20130313144700", true, "numeric build"},
	{"1.0.0-beta+exp.sha.5114f85", true, "pre-release and build"},
	{"1.0.0-0A", true, "alphanumeric identifier starting with 0"},
	{"1.0.0--", true, "a lone hyphen is an alphanumeric identifier"},
	{"99999999999999999999999.999999999999999999.99999999999999999", true, "no size limit"},
	{"", false, "empty"},
	{"1", false, "major only"},
	{"1.2", false, "no patch"},
	{"1.2.3.4", false, "four components"},
	{"v1.2.3", false, "v prefix"},
	{" 1.2.3", false, "leading space"},
	{"1.2.3\n", false, "trailing newline"},
	{"01.1.1", false, "leading zero in major"},
	{"1.01.1", false, "leading zero in minor"},
	{"1.1.01", false, "leading zero in patch"},
	{"1.x", false, "the brief's example"},
	{"1.2.3-", false, "empty pre-release"},
	{"1.2.3+", false, "empty build"},
	{"1.2.3-a..b", false, "empty pre-release identifier"},
	{"1.2.3+a..b", false, "empty build identifier"},
	{"1.2.3-01", false, "numeric pre-release identifier with leading zero"},
	{"1.2.3-a_b", false, "underscore"},
	{"1.2.3+a+b", false, "two plus signs"},
	{"1.2.-3", false, "negative"},
	{"1.2.3-é", false, "non-ASCII"},
	{"１.2.3", false, "non-ASCII digit"},
	{"1..3", false, "empty minor"},
}

func TestValidSemver(t *testing.T) {
	t.Parallel()
	for _, tc := range semverCases {
		if got := catalog.ValidSemver(tc.v); got != tc.want {
			t.Errorf("ValidSemver(%q) = %v, want %v (%s)", tc.v, got, tc.want, tc.reason)
		}
		if re := semverRE.MatchString(tc.v); re != tc.want {
			t.Errorf("the semver.org regexp says %v for %q, the table says %v", re, tc.v, tc.want)
		}
	}
}

func FuzzValidSemver(f *testing.F) {
	for _, tc := range semverCases {
		f.Add(tc.v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if got, want := catalog.ValidSemver(v), semverRE.MatchString(v); got != want {
			t.Errorf("ValidSemver(%q) = %v, the semver.org regexp says %v", v, got, want)
		}
	})
}
