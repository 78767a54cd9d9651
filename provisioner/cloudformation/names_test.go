package cloudformation

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/provisioner"
)

var (
	stackNameRE = regexp.MustCompile(`^[A-Za-z][-A-Za-z0-9]{0,127}$`)
	tokenRE     = regexp.MustCompile(`^[A-Za-z0-9][-A-Za-z0-9]{0,127}$`)
)

func hash8(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:8]
}

func TestStackName(t *testing.T) {
	long := strings.Repeat("a", 300)
	tests := []struct {
		reason           string
		prefix, svc, id  string
		want             string
		wantPrefixOf     string // when want is empty: the name starts with this
		wantHashSuffixOf string // when set: the name ends with "-" + hash8 of it
	}{
		{reason: "a UUID is valid as it is",
			prefix: "brokerkit", svc: "queue", id: "6b5e1a4c-08a2-4c36-9b2f-1f7b5d3c2e11",
			want: "brokerkit-queue-6b5e1a4c-08a2-4c36-9b2f-1f7b5d3c2e11"},
		{reason: "dots are removed and the hash keeps the ID apart",
			prefix: "brokerkit", svc: "queue", id: "my.db",
			want: "brokerkit-queue-mydb-" + hash8("my.db")},
		{reason: "underscores are removed",
			prefix: "brokerkit", svc: "queue", id: "my_db",
			want: "brokerkit-queue-mydb-" + hash8("my_db")},
		{reason: "unicode is removed",
			prefix: "brokerkit", svc: "queue", id: "bücher-ö",
			want: "brokerkit-queue-bcher--" + hash8("bücher-ö")},
		{reason: "dots in the service name are removed; the hash is of the instance ID",
			prefix: "brokerkit", svc: "aws.sqs", id: "i1",
			want: "brokerkit-awssqs-i1-" + hash8("i1")},
		{reason: "a 300-character ID is cut to 128 with the hash",
			prefix: "brokerkit", svc: "queue", id: long,
			wantPrefixOf: "brokerkit-queue-aaaa", wantHashSuffixOf: long},
		{reason: "no prefix and a service name starting with a digit get an s",
			prefix: "", svc: "9queue", id: "x",
			want: "s9queue-x-" + hash8("x")},
		{reason: "an ID of only removed characters still names a stack",
			prefix: "brokerkit", svc: "queue", id: "___",
			want: "brokerkit-queue--" + hash8("___")},
	}
	for _, tt := range tests {
		got := StackName(tt.prefix, tt.svc, tt.id)
		if !stackNameRE.MatchString(got) {
			t.Errorf("%s: StackName = %q, not a valid stack name", tt.reason, got)
		}
		if tt.want != "" && got != tt.want {
			t.Errorf("%s: StackName(%q, %q, %q) = %q, want %q", tt.reason, tt.prefix, tt.svc, tt.id, got, tt.want)
		}
		if tt.wantPrefixOf != "" && !strings.HasPrefix(got, tt.wantPrefixOf) {
			t.Errorf("%s: StackName = %q, want prefix %q", tt.reason, got, tt.wantPrefixOf)
		}
		if tt.wantHashSuffixOf != "" && (len(got) != 128 || !strings.HasSuffix(got, "-"+hash8(tt.wantHashSuffixOf))) {
			t.Errorf("%s: StackName = %q (%d chars), want 128 chars ending in the ID's hash", tt.reason, got, len(got))
		}
		if again := StackName(tt.prefix, tt.svc, tt.id); again != got {
			t.Errorf("%s: StackName is not deterministic: %q then %q", tt.reason, got, again)
		}
	}
}

func TestStackNameDistinctIDsNeverCollide(t *testing.T) {
	long := strings.Repeat("b", 200)
	ids := []string{
		"abc", "a.bc", "ab.c", "a_bc", "abc.", ".abc", "ab-c", "ab--c", "äbc", "abc\u00e9",
		long, long + "x", long + "y", long[:199] + ".",
	}
	seen := map[string]string{}
	for _, id := range ids {
		name := StackName("brokerkit", "queue", id)
		if other, dup := seen[name]; dup {
			t.Errorf("IDs %q and %q share the stack name %q", other, id, name)
		}
		seen[name] = id
	}
}

func TestClientRequestToken(t *testing.T) {
	tests := []struct {
		reason, opID, suffix, want string
	}{
		{"a valid ID is its own token", "p-0123abcd", "", "p-0123abcd"},
		{"a suffix is appended", "p-0123abcd", "-cleanup", "p-0123abcd-cleanup"},
		{"an ID with underscores gets a hash", "p_01", "", "p01-" + hash8("p_01")},
		{"a leading hyphen gets an s", "-x", "", "s-x-" + hash8("-x")},
	}
	for _, tt := range tests {
		got := clientRequestToken(tt.opID, tt.suffix)
		if got != tt.want {
			t.Errorf("%s: clientRequestToken(%q, %q) = %q, want %q", tt.reason, tt.opID, tt.suffix, got, tt.want)
		}
		if !tokenRE.MatchString(got) {
			t.Errorf("%s: %q is not a valid ClientRequestToken", tt.reason, got)
		}
	}
	if got := clientRequestToken(strings.Repeat("z", 500), ""); len(got) > 128 || !tokenRE.MatchString(got) {
		t.Errorf("token of a 500-character ID = %q (%d chars)", got, len(got))
	}
}

func tagMap(tags []types.Tag) map[string]string {
	m := map[string]string{}
	for _, tg := range tags {
		m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return m
}

func TestTags(t *testing.T) {
	s := newTestStacks(&fakeAPI{})
	tests := []struct {
		reason string
		inst   provisioner.Instance
		want   map[string]string
	}{
		{
			reason: "Cloud Foundry context",
			inst: provisioner.Instance{ID: "i1", ServiceID: "s1", Context: map[string]any{
				"platform": "cloudfoundry", "organization_guid": "org", "space_guid": "space", "instance_name": "x"}},
			want: map[string]string{
				TagBrokerID: "broker-1", TagInstanceID: "i1", TagServiceID: "s1", TagPlanID: "p1", TagTemplateID: "t1",
				TagPlatform: "cloudfoundry", TagOrganization: "org", TagSpace: "space"},
		},
		{
			reason: "Kubernetes context",
			inst: provisioner.Instance{ID: "i1", ServiceID: "s1", Context: map[string]any{
				"platform": "kubernetes", "namespace": "ns", "clusterid": "c1"}},
			want: map[string]string{
				TagBrokerID: "broker-1", TagInstanceID: "i1", TagServiceID: "s1", TagPlanID: "p1", TagTemplateID: "t1",
				TagPlatform: "kubernetes", TagNamespace: "ns", TagClusterID: "c1"},
		},
		{
			reason: "no context: the top-level organization and space, and no empty tags",
			inst:   provisioner.Instance{ID: "i1", ServiceID: "s1", OrganizationGUID: "org0", SpaceGUID: "space0"},
			want: map[string]string{
				TagBrokerID: "broker-1", TagInstanceID: "i1", TagServiceID: "s1", TagPlanID: "p1", TagTemplateID: "t1",
				TagOrganization: "org0", TagSpace: "space0"},
		},
	}
	for _, tt := range tests {
		tags := s.tags(&tt.inst, "p1", "t1")
		if diff := cmp.Diff(tt.want, tagMap(tags)); diff != "" {
			t.Errorf("%s: tags (-want +got):\n%s", tt.reason, diff)
		}
	}
}

func TestTagsLimits(t *testing.T) {
	s := newTestStacks(&fakeAPI{})
	long := strings.Repeat("é", 200) // 400 bytes
	inst := &provisioner.Instance{ID: long, ServiceID: "s", Context: map[string]any{"platform": long, "namespace": 7}}
	tags := s.tags(inst, "p", "t")
	if len(tags) > maxTags {
		t.Fatalf("%d tags, want at most %d", len(tags), maxTags)
	}
	m := tagMap(tags)
	for _, k := range []string{TagInstanceID, TagPlatform} {
		v := m[k]
		if len(v) > maxTagValue || !strings.HasPrefix(long, v) {
			t.Errorf("tag %s = %d bytes, want a prefix of the value of at most 256 bytes on a rune boundary", k, len(v))
		}
	}
	if _, ok := m[TagNamespace]; ok {
		t.Errorf("a non-string context value became a tag")
	}
}
