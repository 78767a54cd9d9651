package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/brokerkit/brokerkit/broker"
)

// Config is the program's configuration, from flags with environment
// fallbacks. Its String method hides the users' passwords.
type Config struct {
	// Listen is the address to serve on, host:port.
	Listen string
	// HealthListen, if set, is the address of a second, plain-HTTP
	// listener that answers GET /healthz without authentication, for
	// probes.
	HealthListen string
	// TLSCert and TLSKey are PEM files; both or neither. With them the
	// broker serves HTTPS.
	TLSCert, TLSKey string
	// Users are the platform's credentials for HTTP Basic authentication.
	Users []broker.Credential
	// Templates is a directory of CloudFormation templates; "" means the
	// templates embedded in the program.
	Templates string
	// State is the bbolt file of instance records. Binding records are
	// kept in "bindings.db" in the same directory.
	State string
	// DynamoDBTable, if set, keeps the instance and binding records in
	// that DynamoDB table (in two namespaces) instead of State and
	// bindings.db, shared with other replicas.
	DynamoDBTable string
	// PollInterval is the delay before the first poll of an operation.
	PollInterval time.Duration
	// LeaseDuration is how long a replica's lease on an operation lasts
	// (with DynamoDBTable only).
	LeaseDuration time.Duration
	// BindingKey is the file holding the AES-256 key that seals binding
	// credentials and secret parameters (hex, created on first start).
	BindingKey string
	// Region is the AWS region of every stack and binding.
	Region string
	// RoleARN is the CloudFormation service role, or "".
	RoleARN string
	// AllowTargetAccount lets users choose an instance's account with the
	// target_account_id and target_role_name parameters.
	AllowTargetAccount bool
	// TargetRoleName is the role assumed in a target account when the
	// user names none.
	TargetRoleName string
	// TargetExternalID is the ExternalId sent when assuming a role in a
	// target account. A secret: String never prints it.
	TargetExternalID string
	// StackPrefix starts every stack name: "<prefix>-" for instances,
	// "<prefix>-bind-" for bindings.
	StackPrefix string
	// BrokerID seeds the catalog's IDs and tags every stack.
	BrokerID string
	// Rate is the number of CloudFormation calls per second.
	Rate float64
	// PrintCatalog asks to print the catalog and exit.
	PrintCatalog bool
	// LogLevel is the lowest level logged.
	LogLevel slog.Level
}

// String describes c without passwords or the target external ID.
func (c Config) String() string {
	users := make([]string, len(c.Users))
	for i, u := range c.Users {
		users[i] = u.String()
	}
	externalID := ""
	if c.TargetExternalID != "" {
		externalID = "[redacted]"
	}
	return fmt.Sprintf("Config{Listen:%q HealthListen:%q TLS:%t Users:%v Templates:%q State:%q DynamoDBTable:%q Region:%q StackPrefix:%q BrokerID:%q Rate:%g "+
		"AllowTargetAccount:%t TargetRoleName:%q TargetExternalID:%s}",
		c.Listen, c.HealthListen, c.TLSCert != "", users, c.Templates, c.State, c.DynamoDBTable, c.Region, c.StackPrefix, c.BrokerID, c.Rate,
		c.AllowTargetAccount, c.TargetRoleName, externalID)
}

// GoString is String, so %#v cannot print passwords either.
func (c Config) GoString() string { return c.String() }

// Format prints String for every verb.
func (c Config) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// setting is one flag with its environment variable and default.
type setting struct {
	flag, env, def, usage string
}

// The settings, in the order -h lists them. A default of "" means none
// (or, for -state and -binding-key, one computed from the data directory).
var settings = []setting{
	{"listen", "BROKER_LISTEN", "127.0.0.1:8080", "`address` to serve on, host:port"},
	{"health-listen", "BROKER_HEALTH_LISTEN", "", "`address` of a separate plain-HTTP listener answering GET /healthz without authentication, for probes (default: none)"},
	{"tls-cert", "BROKER_TLS_CERT", "", "PEM certificate `file`; with -tls-key, serve HTTPS"},
	{"tls-key", "BROKER_TLS_KEY", "", "PEM private key `file`; with -tls-cert, serve HTTPS"},
	{"users", "BROKER_USERS", "", "basic-auth credentials, `user:password[,user:password...]` (required; prefer the variable: flags show in ps)"},
	{"templates", "BROKER_TEMPLATES", "", "`directory` of CloudFormation templates (default: the templates built into the program)"},
	{"state", "BROKER_STATE", "", "bbolt `file` of instance records (default: <data dir>/state.db; data dir is $BROKER_DATA_DIR or <user config dir>/brokerkit)"},
	{"dynamodb-table", "BROKER_DYNAMODB_TABLE", "", "DynamoDB `table` of instance and binding records shared by replicas, instead of the -state file and bindings.db (create it with deploy/state-table.yaml)"},
	{"lease-duration", "BROKER_LEASE_DURATION", "2m", "with -dynamodb-table: how long a replica's lease on an operation lasts; a dead replica's operations wait this `duration` for another"},
	{"poll-interval", "BROKER_POLL_INTERVAL", "5s", "`duration` before the first poll of an operation; later polls back off up to 12 times it"},
	{"binding-key", "BROKER_BINDING_KEY", "", "`file` with the AES-256 key sealing binding credentials, created if absent (default: binding.key beside the state file)"},
	{"region", "AWS_REGION", "", "AWS `region` (required)"},
	{"role-arn", "BROKER_CFN_ROLE_ARN", "", "CloudFormation service role `ARN` (default: the caller's credentials); not with -allow-target-account"},
	{"allow-target-account", "BROKER_ALLOW_TARGET_ACCOUNT", "false", "`true` lets users choose an instance's AWS account with the target_account_id (and target_role_name) parameters; the broker assumes that role there"},
	{"target-role-name", "BROKER_TARGET_ROLE_NAME", "", "with -allow-target-account: IAM role `name` assumed in a target account when the user names none"},
	{"target-external-id", "BROKER_TARGET_EXTERNAL_ID", "", "with -allow-target-account: external `ID` sent when assuming a target account's role; a secret, never printed (prefer the variable: flags show in ps)"},
	{"stack-prefix", "BROKER_STACK_PREFIX", "brokerkit", "`prefix` of stack names: <prefix>-<service>-<instance> and <prefix>-bind-<service>-<binding>"},
	{"broker-id", "BROKER_ID", "brokerkit", "broker `ID`: seeds the catalog's IDs and tags every stack"},
	{"rate", "BROKER_CFN_RATE", "5", "CloudFormation calls per `second` of this process; N replicas on one -dynamodb-table should each get the account's budget divided by N"},
	{"log-level", "BROKER_LOG_LEVEL", "info", "lowest `level` logged: debug, info, warn or error"},
}

// boolSettings are the settings given as bool flags ("-allow-target-account"
// alone is true); their values are still checked as text.
var boolSettings = map[string]bool{"allow-target-account": true}

// boolFlag is a bool flag whose value is kept as text, like the others.
type boolFlag struct{ v *string }

func (b boolFlag) String() string {
	if b.v == nil {
		return ""
	}
	return *b.v
}
func (b boolFlag) Set(s string) error { *b.v = s; return nil }
func (b boolFlag) IsBoolFlag() bool   { return true }

// errHelp is returned by parseConfig for -h: the usage was printed.
var errHelp = flag.ErrHelp

var (
	regionRE  = regexp.MustCompile(`^[a-z]{2,4}(-[a-z]+)+-[0-9]+$`)
	roleARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$`)
	// At most 27 characters, so that the bindings' "<prefix>-bind" fits
	// CloudFormation's 32.
	prefixRE   = regexp.MustCompile(`^[A-Za-z][-A-Za-z0-9]{0,26}$`)
	roleNameRE = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	// externalIDRE is STS's rule for ExternalId's characters; its length
	// (2 to 1224) is checked apart, since RE2 repeats at most 1000.
	externalIDRE = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
	brokerIDRE   = regexp.MustCompile(`^[A-Za-z0-9][-A-Za-z0-9_.]{0,63}$`)
	tableRE      = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,255}$`)
)

// parseConfig reads the configuration from args (without the program
// name) and getenv: a flag given on the command line wins over its
// environment variable, which wins over the default. It checks every
// value and returns every problem at once, each naming its flag and
// variable; a -users problem never quotes the value. usage receives the
// -h text (then the error is errHelp). It reads the disk only to check that
// -templates is a directory and to find the user config directory.
func parseConfig(args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	fs := flag.NewFlagSet("awsbroker", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, and printed once by the caller
	vals := map[string]*string{}
	for _, s := range settings {
		u := s.usage + " [$" + s.env + "]"
		v := s.def
		vals[s.flag] = &v
		if boolSettings[s.flag] {
			fs.Var(boolFlag{&v}, s.flag, u)
		} else {
			fs.StringVar(&v, s.flag, s.def, u)
		}
	}
	printCatalog := fs.Bool("print-catalog", false, "validate the templates, print the OSB catalog as JSON and exit")
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(usage, "Usage: awsbroker [flags]\n\nAn OSB broker provisioning AWS services through CloudFormation. Every flag\nfalls back to the environment variable in brackets; the flag wins.\n\n")
			fs.SetOutput(usage)
			fs.PrintDefaults()
			return Config{}, errHelp
		}
		return Config{}, fmt.Errorf("%w (awsbroker -h lists the flags)", err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q: awsbroker takes flags only", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	value := func(s setting) string {
		if given[s.flag] {
			return *vals[s.flag]
		}
		if v := getenv(s.env); v != "" {
			return v
		}
		return s.def
	}
	get := map[string]string{}
	for _, s := range settings {
		v := value(s)
		if s.flag != "users" { // passwords keep their spaces
			v = strings.TrimSpace(v)
		}
		get[s.flag] = v
	}

	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", nameOf(name), fmt.Sprintf(format, args...)))
	}
	c := Config{PrintCatalog: *printCatalog}

	c.Listen = get["listen"]
	if host, port, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "%q is not host:port", c.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 || strings.ContainsAny(host, " /") {
		bad("listen", "%q is not host:port with a port from 0 to 65535", c.Listen)
	}

	c.HealthListen = get["health-listen"]
	if c.HealthListen != "" {
		if host, port, err := net.SplitHostPort(c.HealthListen); err != nil {
			bad("health-listen", "%q is not host:port", c.HealthListen)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 || strings.ContainsAny(host, " /") {
			bad("health-listen", "%q is not host:port with a port from 0 to 65535", c.HealthListen)
		} else if c.HealthListen == c.Listen && n != 0 {
			bad("health-listen", "%q is the address of -listen: give the probes a port of their own", c.HealthListen)
		}
	}

	c.TLSCert, c.TLSKey = get["tls-cert"], get["tls-key"]
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, fmt.Errorf("%s and %s: give both or neither", nameOf("tls-cert"), nameOf("tls-key")))
	}

	users, err := parseUsers(get["users"])
	switch {
	case err != nil:
		bad("users", "%v", err)
	case len(users) == 0 && !c.PrintCatalog:
		bad("users", "required: at least one user:password")
	}
	c.Users = users

	c.Templates = get["templates"]
	if c.Templates != "" {
		if fi, err := os.Stat(c.Templates); err != nil {
			bad("templates", "%v", err)
		} else if !fi.IsDir() {
			bad("templates", "%s is not a directory", c.Templates)
		}
	}

	c.State = get["state"]
	if c.State == "" {
		dir, err := dataDir(getenv)
		if err != nil && !c.PrintCatalog {
			bad("state", "no default: %v; set BROKER_DATA_DIR or -state", err)
		} else if err == nil {
			c.State = filepath.Join(dir, "state.db")
		}
	} else if strings.HasSuffix(c.State, string(filepath.Separator)) || filepath.Base(c.State) == "." {
		bad("state", "%q is a directory, not a file", c.State)
	} else if fi, err := os.Stat(c.State); err == nil && fi.IsDir() {
		bad("state", "%q is a directory, not a file", c.State)
	}
	c.DynamoDBTable = get["dynamodb-table"]
	if c.DynamoDBTable != "" && !tableRE.MatchString(c.DynamoDBTable) {
		bad("dynamodb-table", "%q is not a DynamoDB table name (3 to 255 letters, digits, '_', '-' or '.')", c.DynamoDBTable)
	}
	for _, d := range []struct {
		name string
		to   *time.Duration
	}{{"lease-duration", &c.LeaseDuration}, {"poll-interval", &c.PollInterval}} {
		v, err := time.ParseDuration(get[d.name])
		if err != nil || v < 10*time.Millisecond || v > 24*time.Hour {
			bad(d.name, "%q is not a duration from 10ms to 24h, such as 2m", get[d.name])
		}
		*d.to = v
	}
	c.BindingKey = get["binding-key"]
	if c.BindingKey == "" && c.State != "" {
		c.BindingKey = filepath.Join(filepath.Dir(c.State), "binding.key")
	}

	c.Region = get["region"]
	switch {
	case c.Region == "" && !c.PrintCatalog:
		bad("region", "required (there is no default region)")
	case c.Region != "" && !regionRE.MatchString(c.Region):
		bad("region", "%q is not an AWS region name such as us-east-1", c.Region)
	}

	c.RoleARN = get["role-arn"]
	if c.RoleARN != "" && !roleARNRE.MatchString(c.RoleARN) {
		bad("role-arn", "%q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", c.RoleARN)
	}

	allow, err := strconv.ParseBool(get["allow-target-account"])
	if err != nil {
		bad("allow-target-account", "%q is not true or false", get["allow-target-account"])
	}
	c.AllowTargetAccount = allow
	c.TargetRoleName = get["target-role-name"]
	if c.TargetRoleName != "" && !roleNameRE.MatchString(c.TargetRoleName) {
		bad("target-role-name", "%q is not an IAM role name (1 to 64 letters, digits and +=,.@_-)", c.TargetRoleName)
	}
	// Never quoted: the external ID is a secret.
	c.TargetExternalID = get["target-external-id"]
	if n := len(c.TargetExternalID); n > 0 && (n < 2 || n > 1224 || !externalIDRE.MatchString(c.TargetExternalID)) {
		bad("target-external-id", "not an external ID (2 to 1224 letters, digits and +=,.@:/-_)")
	}
	if !c.AllowTargetAccount {
		for _, f := range []string{"target-role-name", "target-external-id"} {
			if get[f] != "" {
				bad(f, "only with %s true", nameOf("allow-target-account"))
			}
		}
	}
	if c.AllowTargetAccount && c.RoleARN != "" {
		errs = append(errs, fmt.Errorf("%s and %s: a CloudFormation service role of the broker's account cannot serve stacks in other accounts; give one or the other",
			nameOf("role-arn"), nameOf("allow-target-account")))
	}

	c.StackPrefix = get["stack-prefix"]
	if !prefixRE.MatchString(c.StackPrefix) {
		bad("stack-prefix", "%q must be a letter then at most 26 letters, digits or hyphens", c.StackPrefix)
	}

	c.BrokerID = get["broker-id"]
	if !brokerIDRE.MatchString(c.BrokerID) {
		bad("broker-id", "%q must be 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit", c.BrokerID)
	}

	c.Rate, err = strconv.ParseFloat(get["rate"], 64)
	if err != nil || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) || c.Rate <= 0 || c.Rate > 1000 {
		bad("rate", "%q is not a number of calls per second above 0 and at most 1000", get["rate"])
	}

	if err := c.LogLevel.UnmarshalText([]byte(get["log-level"])); err != nil || !knownLevel(get["log-level"]) {
		bad("log-level", "%q is not one of debug, info, warn, error", get["log-level"])
	}

	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// nameOf names a setting for an error: "-rate (BROKER_CFN_RATE)".
func nameOf(flagName string) string {
	for _, s := range settings {
		if s.flag == flagName {
			return "-" + s.flag + " (" + s.env + ")"
		}
	}
	return "-" + flagName
}

func knownLevel(s string) bool {
	switch strings.ToLower(s) {
	case "debug", "info", "warn", "error":
		return true
	}
	return false
}

// parseUsers parses "user:password[,user:password...]". A password may
// hold ':' but not ','. Errors name the entry by position, never by value.
func parseUsers(s string) ([]broker.Credential, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var users []broker.Credential
	seen := map[string]bool{}
	for i, entry := range strings.Split(s, ",") {
		user, pass, ok := strings.Cut(entry, ":")
		user = strings.TrimSpace(user)
		switch {
		case !ok:
			return nil, fmt.Errorf("entry %d is not user:password", i+1)
		case user == "":
			return nil, fmt.Errorf("entry %d has an empty user name", i+1)
		case pass == "":
			return nil, fmt.Errorf("entry %d has an empty password", i+1)
		case seen[user]:
			return nil, fmt.Errorf("entry %d repeats user %q", i+1, user)
		}
		seen[user] = true
		users = append(users, broker.Credential{Username: user, Password: pass})
	}
	return users, nil
}

// dataDir is $BROKER_DATA_DIR, or the user config directory's brokerkit.
func dataDir(getenv func(string) string) (string, error) {
	if d := getenv("BROKER_DATA_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "brokerkit"), nil
}
