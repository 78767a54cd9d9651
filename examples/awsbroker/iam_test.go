package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var iamUserNameRE = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

func TestUserName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("p", 32)
	tests := []struct {
		reason, prefix, bindingID, want string
	}{
		{"a GUID under the default prefix is kept as is", "brokerkit", "6f1e7a52-0b1c-4c3e-9a7f-2b8d4e6f1a01", "brokerkit-6f1e7a52-0b1c-4c3e-9a7f-2b8d4e6f1a01"},
		{"a short ID", "bk", "b1", "bk-b1"},
		{"characters IAM refuses are dropped and a hash added", "bk", "a/b c", "bk-abc-"},
		{"upper case is lowered and a hash added, as IAM names ignore case", "bk", "ABC", "bk-abc-"},
		{"a long prefix and a GUID are cut and hashed", long, "6f1e7a52-0b1c-4c3e-9a7f-2b8d4e6f1a01", long + "-6f1e7a52-0b1c-4c3e-9a7-"},
	}
	for _, tt := range tests {
		got := userName(tt.prefix, tt.bindingID)
		if !strings.HasPrefix(got, tt.want) {
			t.Errorf("%s: userName(%q, %q) = %q, want it to start with %q", tt.reason, tt.prefix, tt.bindingID, got, tt.want)
		}
		if !iamUserNameRE.MatchString(got) {
			t.Errorf("%s: userName(%q, %q) = %q is not a valid IAM user name", tt.reason, tt.prefix, tt.bindingID, got)
		}
		if again := userName(tt.prefix, tt.bindingID); again != got {
			t.Errorf("%s: userName is not deterministic: %q then %q", tt.reason, got, again)
		}
	}
	if a, b := userName("bk", "ABC"), userName("bk", "abc"); a == b {
		t.Errorf("binding IDs differing in case share the IAM user %q", a)
	}
	if a, b := userName("bk", "a/b"), userName("bk", "a b"); a == b {
		t.Errorf("binding IDs differing in dropped characters share the IAM user %q", a)
	}
	if a, b := userName(long, strings.Repeat("x", 40)+"1"), userName(long, strings.Repeat("x", 40)+"2"); a == b {
		t.Errorf("binding IDs differing after the cut share the IAM user %q", a)
	}
}

func TestBindingPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		reason  string
		outputs map[string]string
		want    []statement
	}{
		{"no ARN output: no policy", map[string]string{"QueueURL": "https://x"}, nil},
		{"an output that is not an ARN is ignored", map[string]string{"QueueARN": "q"}, nil},
		{"SNS", map[string]string{"TopicARN": "arn:aws:sns:us-east-1:123456789012:t", "TopicName": "t"}, []statement{
			{Sid: "Topic", Effect: "Allow", Action: []string{"sns:Publish", "sns:GetTopicAttributes", "sns:Subscribe", "sns:Unsubscribe", "sns:ListSubscriptionsByTopic"},
				Resource: []string{"arn:aws:sns:us-east-1:123456789012:t"}},
		}},
		{"S3: the bucket, and its objects", map[string]string{"BucketARN": "arn:aws:s3:::b", "BucketName": "b"}, []statement{
			{Sid: "Bucket", Effect: "Allow", Action: []string{"s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"},
				Resource: []string{"arn:aws:s3:::b"}},
			{Sid: "BucketContents", Effect: "Allow", Action: []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"},
				Resource: []string{"arn:aws:s3:::b/*"}},
		}},
		{"DynamoDB: the table, and its indexes", map[string]string{"TableARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t"}, []statement{
			{Sid: "Table", Effect: "Allow", Action: []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
				"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:DescribeTable"},
				Resource: []string{"arn:aws:dynamodb:us-east-1:123456789012:table/t"}},
			{Sid: "TableContents", Effect: "Allow", Action: []string{"dynamodb:Query", "dynamodb:Scan"},
				Resource: []string{"arn:aws:dynamodb:us-east-1:123456789012:table/t/index/*"}},
		}},
	}
	for _, tt := range tests {
		doc, ok := bindingPolicy(tt.outputs)
		if ok != (tt.want != nil) {
			t.Errorf("%s: bindingPolicy ok = %t", tt.reason, ok)
			continue
		}
		if !ok {
			continue
		}
		var got policyDocument
		if err := json.Unmarshal([]byte(doc), &got); err != nil {
			t.Fatalf("%s: %v", tt.reason, err)
		}
		if diff := cmp.Diff(policyDocument{Version: "2012-10-17", Statement: tt.want}, got); diff != "" {
			t.Errorf("%s: policy mismatch (-want +got):\n%s", tt.reason, diff)
		}
		for _, s := range got.Statement {
			for _, a := range s.Action {
				if strings.Contains(a, "*") || strings.Contains(a, "Delete") && !strings.HasSuffix(a, "Message") && !strings.HasSuffix(a, "Item") && !strings.HasSuffix(a, "Object") {
					t.Errorf("%s: action %s is broader than data-plane access", tt.reason, a)
				}
			}
		}
	}
}
