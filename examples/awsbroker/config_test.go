package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/broker"
)

// envOf returns a getenv reading m only, so that the tests do not see the
// process environment.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// baseEnv is the smallest environment a broker starts with.
func baseEnv() map[string]string {
	return map[string]string{
		"BROKER_USERS":    "platform:secret",
		"AWS_REGION":      "us-east-1",
		"BROKER_DATA_DIR": "/data",
	}
}

// defaults is the Config of baseEnv.
func defaults() Config {
	return Config{
		Listen:       "127.0.0.1:8080",
		Users:        []broker.Credential{{Username: "platform", Password: "secret"}},
		State:        filepath.Join("/data", "state.db"),
		BindingKey:   filepath.Join("/data", "binding.key"),
		PollInterval: 5 * time.Second, LeaseDuration: 2 * time.Minute,
		Region:      "us-east-1",
		StackPrefix: "brokerkit",
		BrokerID:    "brokerkit",
		Rate:        5,
		LogLevel:    slog.LevelInfo,
	}
}

func with(env map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestParseConfig(t *testing.T) {
	t.Parallel()
	templates := t.TempDir()

	tests := []struct {
		name   string
		reason string
		args   []string
		env    map[string]string
		want   func(c *Config)
	}{
		{
			name: "defaults", reason: "users, region and data dir are enough",
			env: baseEnv(), want: func(*Config) {},
		},
		{
			name: "every flag", reason: "each flag sets its field",
			args: []string{
				"-listen", "0.0.0.0:9443", "-tls-cert", "/tls/cert.pem", "-tls-key", "/tls/key.pem",
				"-users", "a:1,b:2", "-templates", templates, "-state", "/var/lib/b/instances.db",
				"-binding-key", "/secrets/key", "-region", "eu-west-2",
				"-role-arn", "arn:aws:iam::123456789012:role/cfn-deploy", "-stack-prefix", "team-a",
				"-broker-id", "prod-1", "-rate", "2.5", "-log-level", "debug", "-print-catalog",
				"-dynamodb-table", "t.b-1", "-lease-duration", "45s", "-poll-interval", "2s",
				"-health-listen", "0.0.0.0:8081",
			},
			env: map[string]string{},
			want: func(c *Config) {
				*c = Config{Listen: "0.0.0.0:9443", HealthListen: "0.0.0.0:8081", TLSCert: "/tls/cert.pem", TLSKey: "/tls/key.pem",
					Users:     []broker.Credential{{Username: "a", Password: "1"}, {Username: "b", Password: "2"}},
					Templates: templates, State: "/var/lib/b/instances.db", BindingKey: "/secrets/key",
					Region: "eu-west-2", RoleARN: "arn:aws:iam::123456789012:role/cfn-deploy", StackPrefix: "team-a",
					BrokerID: "prod-1", Rate: 2.5, PrintCatalog: true, LogLevel: slog.LevelDebug,
					DynamoDBTable: "t.b-1", LeaseDuration: 45 * time.Second, PollInterval: 2 * time.Second}
			},
		},
		{
			name: "every variable", reason: "each environment variable sets its field when its flag is absent",
			env: map[string]string{
				"BROKER_LISTEN": "0.0.0.0:9443", "BROKER_TLS_CERT": "/tls/cert.pem", "BROKER_TLS_KEY": "/tls/key.pem",
				"BROKER_USERS": "a:1,b:2", "BROKER_TEMPLATES": templates, "BROKER_STATE": "/var/lib/b/instances.db",
				"BROKER_BINDING_KEY": "/secrets/key", "AWS_REGION": "eu-west-2",
				"BROKER_CFN_ROLE_ARN": "arn:aws:iam::123456789012:role/cfn-deploy", "BROKER_STACK_PREFIX": "team-a",
				"BROKER_ID": "prod-1", "BROKER_CFN_RATE": "2.5", "BROKER_LOG_LEVEL": "DEBUG",
			},
			want: func(c *Config) {
				*c = Config{Listen: "0.0.0.0:9443", TLSCert: "/tls/cert.pem", TLSKey: "/tls/key.pem",
					Users:     []broker.Credential{{Username: "a", Password: "1"}, {Username: "b", Password: "2"}},
					Templates: templates, State: "/var/lib/b/instances.db", BindingKey: "/secrets/key",
					Region: "eu-west-2", RoleARN: "arn:aws:iam::123456789012:role/cfn-deploy", StackPrefix: "team-a",
					BrokerID: "prod-1", Rate: 2.5, LogLevel: slog.LevelDebug, PollInterval: 5 * time.Second, LeaseDuration: 2 * time.Minute}
			},
		},
		{
			name: "flag wins", reason: "a flag overrides its variable, also with an empty value where empty is valid",
			args: []string{"-listen", "127.0.0.1:1", "-users", "x:y", "-region", "ap-south-1", "-stack-prefix", "f",
				"-broker-id", "flag", "-rate", "1", "-log-level", "error", "-state", "/f/s.db", "-role-arn", ""},
			env: with(baseEnv(), "BROKER_LISTEN", "127.0.0.1:2", "BROKER_USERS", "p:q", "AWS_REGION", "us-west-2",
				"BROKER_STACK_PREFIX", "e", "BROKER_ID", "env", "BROKER_CFN_RATE", "3", "BROKER_LOG_LEVEL", "warn",
				"BROKER_STATE", "/e/s.db", "BROKER_CFN_ROLE_ARN", "arn:aws:iam::123456789012:role/env"),
			want: func(c *Config) {
				c.Listen, c.Users, c.Region, c.StackPrefix, c.BrokerID = "127.0.0.1:1", []broker.Credential{{Username: "x", Password: "y"}}, "ap-south-1", "f", "flag"
				c.Rate, c.LogLevel, c.State, c.BindingKey = 1, slog.LevelError, "/f/s.db", "/f/binding.key"
			},
		},
		{
			name: "target accounts", reason: "-allow-target-account is a bool flag; the role name and external ID go with it",
			args: []string{"-allow-target-account", "-target-role-name", "broker-target"},
			env:  with(baseEnv(), "BROKER_TARGET_EXTERNAL_ID", " ext:id/1 "),
			want: func(c *Config) {
				c.AllowTargetAccount, c.TargetRoleName, c.TargetExternalID = true, "broker-target", "ext:id/1"
			},
		},
		{
			name: "target accounts from variables", reason: "each variable sets its field",
			env: with(baseEnv(), "BROKER_ALLOW_TARGET_ACCOUNT", "true", "BROKER_TARGET_ROLE_NAME", "r", "BROKER_TARGET_EXTERNAL_ID", "xx"),
			want: func(c *Config) {
				c.AllowTargetAccount, c.TargetRoleName, c.TargetExternalID = true, "r", "xx"
			},
		},
		{
			name: "target accounts off by flag", reason: "-allow-target-account=false wins over its variable",
			args: []string{"-allow-target-account=false"},
			env:  with(baseEnv(), "BROKER_ALLOW_TARGET_ACCOUNT", "true"),
			want: func(*Config) {},
		},
		{
			name: "passwords with colons and spaces", reason: "a password is everything after the first colon",
			env: with(baseEnv(), "BROKER_USERS", "a:p:q , b: r "),
			want: func(c *Config) {
				c.Users = []broker.Credential{{Username: "a", Password: "p:q "}, {Username: "b", Password: " r "}}
			},
		},
		{
			name: "print-catalog needs no users or region", reason: "-print-catalog only reads templates",
			args: []string{"-print-catalog"}, env: map[string]string{"BROKER_DATA_DIR": "/data"},
			want: func(c *Config) { c.Users, c.Region, c.PrintCatalog = nil, "", true },
		},
		{
			name: "state beside a custom binding key default", reason: "the binding key defaults to the state file's directory",
			args: []string{"-state", "/srv/broker/x.db"}, env: baseEnv(),
			want: func(c *Config) { c.State, c.BindingKey = "/srv/broker/x.db", "/srv/broker/binding.key" },
		},
		{
			name: "replicas on DynamoDB", reason: "the table and the lease and poll durations come from flags or variables",
			args: []string{"-dynamodb-table", "broker-state", "-poll-interval", "1s"}, env: with(baseEnv(), "BROKER_LEASE_DURATION", "30s"),
			want: func(c *Config) {
				c.DynamoDBTable, c.PollInterval, c.LeaseDuration = "broker-state", time.Second, 30*time.Second
			},
		},
		{
			name: "gov and new partitions' regions", reason: "region names are checked by shape, not by a list",
			args: []string{"-region", "us-gov-west-1", "-role-arn", "arn:aws-us-gov:iam::123456789012:role/path/r"}, env: baseEnv(),
			want: func(c *Config) { c.Region, c.RoleARN = "us-gov-west-1", "arn:aws-us-gov:iam::123456789012:role/path/r" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseConfig(tt.args, envOf(tt.env), io.Discard)
			if err != nil {
				t.Fatalf("%s: parseConfig: %v", tt.reason, err)
			}
			want := defaults()
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: Config mismatch (-want +got):\n%s", tt.reason, diff)
			}
		})
	}
}

func TestParseConfigDefaultDataDir(t *testing.T) {
	t.Parallel()
	dir, err := os.UserConfigDir()
	if err != nil {
		t.Skipf("no user config directory here: %v", err)
	}
	got, err := parseConfig(nil, envOf(map[string]string{"BROKER_USERS": "a:b", "AWS_REGION": "us-east-1"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "brokerkit", "state.db"); got.State != want {
		t.Errorf("State = %q, want %q (the user config directory's brokerkit)", got.State, want)
	}
	if want := filepath.Join(dir, "brokerkit", "binding.key"); got.BindingKey != want {
		t.Errorf("BindingKey = %q, want %q", got.BindingKey, want)
	}
}

func TestParseConfigErrors(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		// want are substrings of the error, naming the flag and variable.
		want []string
	}{
		{"listen not host:port", []string{"-listen", "8080"}, baseEnv(), []string{"-listen (BROKER_LISTEN)", `"8080"`}},
		{"listen port too large", nil, with(baseEnv(), "BROKER_LISTEN", "127.0.0.1:70000"), []string{"-listen (BROKER_LISTEN)", "0 to 65535"}},
		{"listen port not a number", []string{"-listen", "localhost:http"}, baseEnv(), []string{"-listen (BROKER_LISTEN)"}},
		{"health-listen not host:port", []string{"-health-listen", "8081"}, baseEnv(), []string{"-health-listen (BROKER_HEALTH_LISTEN)", `"8081"`}},
		{"health-listen port too large", nil, with(baseEnv(), "BROKER_HEALTH_LISTEN", "0.0.0.0:70000"), []string{"-health-listen (BROKER_HEALTH_LISTEN)", "0 to 65535"}},
		{"health-listen the same as listen", []string{"-listen", "0.0.0.0:8443", "-health-listen", "0.0.0.0:8443"}, baseEnv(), []string{"-health-listen (BROKER_HEALTH_LISTEN)", "a port of their own"}},
		{"tls cert without key", []string{"-tls-cert", "c.pem"}, baseEnv(), []string{"-tls-cert (BROKER_TLS_CERT) and -tls-key (BROKER_TLS_KEY): give both or neither"}},
		{"tls key without cert", nil, with(baseEnv(), "BROKER_TLS_KEY", "k.pem"), []string{"-tls-cert (BROKER_TLS_CERT) and -tls-key (BROKER_TLS_KEY)"}},
		{"users missing", nil, with(baseEnv(), "BROKER_USERS", ""), []string{"-users (BROKER_USERS): required"}},
		{"users empty flag", []string{"-users", ""}, baseEnv(), []string{"-users (BROKER_USERS): required"}},
		{"user without password", nil, with(baseEnv(), "BROKER_USERS", "a:pw1,hunter2"), []string{"-users (BROKER_USERS): entry 2 is not user:password"}},
		{"empty user", []string{"-users", ":hunter2"}, baseEnv(), []string{"-users (BROKER_USERS): entry 1 has an empty user name"}},
		{"empty password", []string{"-users", "a:"}, baseEnv(), []string{"-users (BROKER_USERS): entry 1 has an empty password"}},
		{"trailing comma", []string{"-users", "a:hunter2,"}, baseEnv(), []string{"-users (BROKER_USERS): entry 2"}},
		{"repeated user", []string{"-users", "a:hunter2,a:hunter3"}, baseEnv(), []string{"-users (BROKER_USERS): entry 2 repeats user \"a\""}},
		{"templates missing", []string{"-templates", "/does/not/exist"}, baseEnv(), []string{"-templates (BROKER_TEMPLATES)", "/does/not/exist"}},
		{"templates a file", nil, with(baseEnv(), "BROKER_TEMPLATES", file), []string{"-templates (BROKER_TEMPLATES)", "is not a directory"}},
		{"state a directory", []string{"-state", "/var/lib/"}, baseEnv(), []string{"-state (BROKER_STATE)", "is a directory"}},
		{"region missing", nil, with(baseEnv(), "AWS_REGION", ""), []string{"-region (AWS_REGION): required"}},
		{"region malformed", []string{"-region", "US-EAST-1"}, baseEnv(), []string{"-region (AWS_REGION)", `"US-EAST-1"`}},
		{"region a zone", nil, with(baseEnv(), "AWS_REGION", "us-east-1a"), []string{"-region (AWS_REGION)"}},
		{"role not an ARN", []string{"-role-arn", "cfn-deploy"}, baseEnv(), []string{"-role-arn (BROKER_CFN_ROLE_ARN)", `"cfn-deploy"`}},
		{"role a user", nil, with(baseEnv(), "BROKER_CFN_ROLE_ARN", "arn:aws:iam::123456789012:user/x"), []string{"-role-arn (BROKER_CFN_ROLE_ARN)"}},
		{"prefix starts with a digit", []string{"-stack-prefix", "1abc"}, baseEnv(), []string{"-stack-prefix (BROKER_STACK_PREFIX)", `"1abc"`}},
		{"prefix too long", nil, with(baseEnv(), "BROKER_STACK_PREFIX", strings.Repeat("a", 33)), []string{"-stack-prefix (BROKER_STACK_PREFIX)"}},
		{"prefix too long for the bindings' stacks", nil, with(baseEnv(), "BROKER_STACK_PREFIX", strings.Repeat("a", 28)), []string{"-stack-prefix (BROKER_STACK_PREFIX)", "at most 26"}},
		{"allow target account not a bool", nil, with(baseEnv(), "BROKER_ALLOW_TARGET_ACCOUNT", "maybe"), []string{"-allow-target-account (BROKER_ALLOW_TARGET_ACCOUNT)", `"maybe"`}},
		{"target role name malformed", []string{"-allow-target-account", "-target-role-name", "a/b"}, baseEnv(), []string{"-target-role-name (BROKER_TARGET_ROLE_NAME)", `"a/b"`}},
		{"target role name alone", []string{"-target-role-name", "r"}, baseEnv(), []string{"-target-role-name (BROKER_TARGET_ROLE_NAME): only with -allow-target-account"}},
		{"external ID alone", nil, with(baseEnv(), "BROKER_TARGET_EXTERNAL_ID", "hunter22"), []string{"-target-external-id (BROKER_TARGET_EXTERNAL_ID): only with"}},
		{"external ID malformed", []string{"-allow-target-account"}, with(baseEnv(), "BROKER_TARGET_EXTERNAL_ID", "hunter 2"), []string{"-target-external-id (BROKER_TARGET_EXTERNAL_ID): not an external ID"}},
		{"external ID too short", []string{"-allow-target-account"}, with(baseEnv(), "BROKER_TARGET_EXTERNAL_ID", "h"), []string{"-target-external-id (BROKER_TARGET_EXTERNAL_ID)"}},
		{"role ARN and target accounts", []string{"-allow-target-account", "-role-arn", "arn:aws:iam::123456789012:role/cfn"}, baseEnv(),
			[]string{"-role-arn (BROKER_CFN_ROLE_ARN) and -allow-target-account (BROKER_ALLOW_TARGET_ACCOUNT)"}},
		{"prefix underscore", []string{"-stack-prefix", "a_b"}, baseEnv(), []string{"-stack-prefix (BROKER_STACK_PREFIX)"}},
		{"broker id empty", []string{"-broker-id", ""}, baseEnv(), []string{"-broker-id (BROKER_ID)"}},
		{"broker id with space", nil, with(baseEnv(), "BROKER_ID", "a b"), []string{"-broker-id (BROKER_ID)", `"a b"`}},
		{"rate zero", []string{"-rate", "0"}, baseEnv(), []string{"-rate (BROKER_CFN_RATE)", `"0"`}},
		{"rate negative", nil, with(baseEnv(), "BROKER_CFN_RATE", "-1"), []string{"-rate (BROKER_CFN_RATE)"}},
		{"rate not a number", []string{"-rate", "fast"}, baseEnv(), []string{"-rate (BROKER_CFN_RATE)", `"fast"`}},
		{"rate NaN", []string{"-rate", "NaN"}, baseEnv(), []string{"-rate (BROKER_CFN_RATE)"}},
		{"rate infinite", []string{"-rate", "+Inf"}, baseEnv(), []string{"-rate (BROKER_CFN_RATE)"}},
		{"rate too high", []string{"-rate", "1001"}, baseEnv(), []string{"-rate (BROKER_CFN_RATE)"}},
		{"log level unknown", []string{"-log-level", "verbose"}, baseEnv(), []string{"-log-level (BROKER_LOG_LEVEL)", `"verbose"`}},
		{"log level offset", nil, with(baseEnv(), "BROKER_LOG_LEVEL", "info+2"), []string{"-log-level (BROKER_LOG_LEVEL)"}},
		{"argument", []string{"serve"}, baseEnv(), []string{`unexpected argument "serve"`}},
		{"unknown flag", []string{"-port", "1"}, baseEnv(), []string{"-port"}},
		{"every problem at once", []string{"-rate", "0", "-region", "x"}, with(baseEnv(), "BROKER_USERS", ""),
			[]string{"-users (BROKER_USERS)", "-region (AWS_REGION)", "-rate (BROKER_CFN_RATE)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseConfig(tt.args, envOf(tt.env), io.Discard)
			if err == nil {
				t.Fatalf("parseConfig(%q) = nil error, want one naming %q", tt.args, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter") || strings.Contains(err.Error(), "pw1") {
				t.Errorf("error %q quotes a password", err)
			}
		})
	}
}

func TestParseConfigHelp(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	_, err := parseConfig([]string{"-h"}, envOf(nil), &out)
	if err != errHelp {
		t.Fatalf("parseConfig(-h) error = %v, want errHelp", err)
	}
	for _, s := range settings {
		if !strings.Contains(out.String(), "-"+s.flag) || !strings.Contains(out.String(), "$"+s.env) {
			t.Errorf("-h does not document -%s and $%s:\n%s", s.flag, s.env, out.String())
		}
	}
}

func TestConfigStringHidesPasswords(t *testing.T) {
	t.Parallel()
	c := defaults()
	c.Users = []broker.Credential{{Username: "platform", Password: "hunter2"}}
	c.AllowTargetAccount, c.TargetRoleName, c.TargetExternalID = true, "broker-target", "ext-hunter3"
	for _, s := range []string{c.String(), c.GoString(), fmtAll(c)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("%q shows the password", s)
		}
		if strings.Contains(s, "hunter3") {
			t.Errorf("%q shows the external ID", s)
		}
		if !strings.Contains(s, "TargetExternalID:[redacted]") || !strings.Contains(s, `TargetRoleName:"broker-target"`) {
			t.Errorf("%q does not say the external ID is set and the role name", s)
		}
	}
}

func fmtAll(v any) string {
	return fmt.Sprintf("%v %+v %#v %s %q %x %d", v, v, v, v, v, v, v)
}
