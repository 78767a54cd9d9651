package cloudformation

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/brokerkit/brokerkit/provisioner"
)

// Limits of CloudFormation names and tags.
const (
	maxStackName = 128
	maxToken     = 128
	maxTags      = 50
	maxTagValue  = 256
	hashLen      = 8
)

// The tag keys every stack carries. TagInstanceID is how a stack is known
// to be an instance's own.
const (
	TagBrokerID      = "brokerkit:broker-id"
	TagInstanceID    = "brokerkit:instance-id"
	TagServiceID     = "brokerkit:service-id"
	TagPlanID        = "brokerkit:plan-id"
	TagTemplateID    = "brokerkit:template-id"
	TagPlatform      = "brokerkit:platform"
	TagNamespace     = "brokerkit:kubernetes-namespace"
	TagClusterID     = "brokerkit:kubernetes-clusterid"
	TagOrganization  = "brokerkit:cloudfoundry-organization-guid"
	TagSpace         = "brokerkit:cloudfoundry-space-guid"
	defaultPrefix    = "brokerkit"
	cleanupTokenPart = "-cleanup"
)

// StackName returns the name of the stack of instance instanceID of the
// service named serviceName: "<prefix>-<serviceName>-<instanceID>", with
// every character that is not an ASCII letter, digit or hyphen removed, an
// "s" put first if it would not start with a letter, and cut to 128
// characters. When removing or cutting changed anything, the name ends in
// "-" and 8 hex digits of the SHA-256 of instanceID, so that IDs that differ
// only in removed or cut characters get distinct names. The result is a
// valid stack name and the same for the same arguments.
func StackName(prefix, serviceName, instanceID string) string {
	parts := make([]string, 0, 3)
	if prefix != "" {
		parts = append(parts, prefix)
	}
	parts = append(parts, serviceName, instanceID)
	return sanitize(strings.Join(parts, "-"), maxStackName, isLetter, instanceID)
}

// clientRequestToken returns the ClientRequestToken of the operation with
// ID opID (plus suffix, for a second call the operation makes): opID
// itself when it is a valid token, else made valid as StackName makes
// names, with a hash of opID+suffix when that changed anything.
func clientRequestToken(opID, suffix string) string {
	return sanitize(opID+suffix, maxToken, isAlnum, opID+suffix)
}

// sanitize keeps the letters, digits and hyphens of s, makes it start with
// a character for which first is true, and fits it into max bytes. If that
// changed s, it appends "-" and a hash of hashOf.
func sanitize(s string, max int, first func(byte) bool, hashOf string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; isAlnum(c) || c == '-' {
			b.WriteByte(c)
		}
	}
	out := b.String()
	changed := len(out) != len(s)
	if out == "" || !first(out[0]) {
		out = "s" + out
		changed = true
	}
	if !changed && len(out) <= max {
		return out
	}
	sum := sha256.Sum256([]byte(hashOf))
	keep := max - 1 - hashLen
	if len(out) > keep {
		out = out[:keep]
	}
	return out + "-" + hex.EncodeToString(sum[:])[:hashLen]
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isAlnum(c byte) bool  { return isLetter(c) || '0' <= c && c <= '9' }

// tags returns the tags of a stack, sorted by key: at most 50, values cut
// to 256 bytes on a UTF-8 boundary. Empty values are left out.
func (s *Stacks) tags(inst *provisioner.Instance, planID, templateID string) []types.Tag {
	m := map[string]string{
		TagBrokerID:   s.opts.BrokerID,
		TagInstanceID: inst.ID,
		TagServiceID:  inst.ServiceID,
		TagPlanID:     planID,
		TagTemplateID: templateID,
		TagPlatform:   contextString(inst.Context, "platform"),
		TagNamespace:  contextString(inst.Context, "namespace"),
		TagClusterID:  contextString(inst.Context, "clusterid"),
	}
	m[TagOrganization] = cmpOr(contextString(inst.Context, "organization_guid"), inst.OrganizationGUID)
	m[TagSpace] = cmpOr(contextString(inst.Context, "space_guid"), inst.SpaceGUID)
	keys := slices.Sorted(maps.Keys(m))
	out := make([]types.Tag, 0, len(keys))
	for _, k := range keys {
		v := m[k]
		if v == "" || len(out) == maxTags {
			continue
		}
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(truncate(v, maxTagValue))})
	}
	return out
}

func contextString(ctx map[string]any, key string) string {
	v, _ := ctx[key].(string)
	return v
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// tagValue returns the value of tag key in tags, or "".
func tagValue(tags []types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}
