package binding

import "testing"

// The old AWS broker's toScreamingSnakeCase (awslabs/aws-servicebroker,
// pkg/broker/util.go), case by case, quirks included.
func TestScreamingSnake(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want, reason string }{
		{"QueueURL", "QUEUE_URL", "trailing acronym"},
		{"QueueARN", "QUEUE_ARN", "trailing acronym"},
		{"BucketName", "BUCKET_NAME", "two words"},
		{"BucketArn", "BUCKET_ARN", "capitalised acronym"},
		{"DeadLetterQueueURL", "DEAD_LETTER_QUEUE_URL", "four words"},
		{"DBName", "DB_NAME", "leading acronym"},
		{"EndpointAddress", "ENDPOINT_ADDRESS", "two words"},
		{"S3Bucket", "S3_BUCKET", "capital after a digit splits only before a lower"},
		{"Bucket2", "BUCKET2", "digits never split"},
		{"PortA", "PORTA", "a single trailing capital does not split"},
		{"UserKeyId", "USER_KEY_ID", "old special output, without the service prefix"},
		{"QUEUE_URL", "QUEUE_URL", "already screaming"},
		{"queueUrl", "QUEUE_URL", "lower camel"},
		{"A", "A", "one rune"},
		{"", "", "empty"},
	}
	for _, tt := range tests {
		if got := screamingSnake(tt.in); got != tt.want {
			t.Errorf("%s: screamingSnake(%q) = %q, want %q", tt.reason, tt.in, got, tt.want)
		}
	}
}

func TestKebab(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"QueueURL", "queue-url"},
		{"DBName", "db-name"},
		{"S3Bucket", "s3-bucket"},
		{"PortA", "port-a"},
		{"QUEUE_URL", "queue-url"},
		{"queue-url", "queue-url"},
		{"_x__y_", "x-y"},
		{"MasterUserPassword", "master-user-password"},
	}
	for _, tt := range tests {
		if got := kebab(tt.in); got != tt.want {
			t.Errorf("kebab(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestWellKnownNeedsValidValue(t *testing.T) {
	t.Parallel()
	tests := []struct{ out, val, want string }{
		{"EndpointPort", "5432", "port"},
		{"EndpointPort", "70000", "endpoint-port"},
		{"EndpointPort", "http", "endpoint-port"},
		{"URL", "https://example.com/x", "uri"},
		{"URL", "example.com/x", "url"},
		{"EndpointAddress", "db.example.com", "host"},
		{"EndpointAddress", "db.example.com:5432", "endpoint-address"},
		{"Hostname", "::1", "host"},
		{"Hostname", "", "hostname"},
		{"MasterUsername", "", "username"},
	}
	for _, tt := range tests {
		if got := serviceBindingName(tt.out, tt.val); got != tt.want {
			t.Errorf("serviceBindingName(%q, %q) = %q, want %q", tt.out, tt.val, got, tt.want)
		}
	}
}

func TestScrub(t *testing.T) {
	t.Parallel()
	m := map[string]string{"a": "secret", "b": "secret-longer", "c": ""}
	got := scrub("x secret-longer y secret z", m)
	if want := "x [redacted] y [redacted] z"; got != want {
		t.Errorf("scrub = %q, want %q", got, want)
	}
}
