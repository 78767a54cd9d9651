package main

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	yaml "go.yaml.in/yaml/v4"

	"github.com/brokerkit/brokerkit/credentials"
	"github.com/brokerkit/brokerkit/internal/mototest"
	"github.com/brokerkit/brokerkit/provisioner/accesskeys"
	"github.com/brokerkit/brokerkit/provisioner/cloudformation"
	"github.com/brokerkit/brokerkit/provisioner/store/dynamodb"
)

// iamTemplate is the least-privilege IAM template this package ships.
const iamTemplate = "deploy/iam.yaml"

// notCalls are actions the broker role is granted that are no API call,
// so no recording can see them; each with the reason it is granted.
var notCalls = map[string]string{
	"iam:PassRole": "authorises CreateStack, UpdateStack and DeleteStack with -role-arn to hand the CloudFormation service role to CloudFormation",
}

// unreachableOnMoto are actions the broker role is granted for calls the
// program makes only in situations moto cannot produce; each with the
// situation. TestPolicyCoversClientInterfaces covers them.
var unreachableOnMoto = map[string]string{
	"cloudformation:DescribeStackEvents": "read only when a stack operation failed (the failed resources and their reasons); on moto a stack never fails (a failing create raises at once and leaves it CREATE_IN_PROGRESS)",
}

// needNoGrant are actions the program calls that IAM allows every
// principal, so the policy does not grant them.
var needNoGrant = map[string]string{
	"sts:GetCallerIdentity": "needs no permission (the start-up credentials check)",
}

// TestMain records every AWS call of the package's tests (the program
// runs in-process and as built binaries) into one file and, after a full
// run, compares the actions with the broker role's policy: see
// checkRecordedCalls.
func TestMain(m *testing.M) {
	f, err := os.CreateTemp("", "awsbroker-calls-*.txt")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = f.Close()
	path := f.Name()
	_ = os.Setenv(envRecordCalls, path)
	code := mototest.Run(m)
	if code == 0 {
		if err := checkRecordedCalls(path); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: the AWS calls the tests recorded and %s disagree:\n%v\n", iamTemplate, err)
			code = 1
		}
	}
	_ = os.Remove(path)
	os.Exit(code)
}

// checkRecordedCalls compares the actions recorded at path with the
// broker role's policy: every recorded action must be granted (or need
// no grant), and every granted action must have been recorded (or be in
// notCalls or unreachableOnMoto). It only runs after a full run of the package's tests with
// moto: a filtered or short run, or one without moto, records only part
// of what the program calls (it says so on stderr and returns nil).
func checkRecordedCalls(path string) error {
	if v := flag.Lookup("test.run"); v != nil && v.Value.String() != "" {
		fmt.Fprintln(os.Stderr, "note: -run is set: the recorded AWS calls are not compared with "+iamTemplate)
		return nil
	}
	if v := flag.Lookup("test.skip"); v != nil && v.Value.String() != "" {
		fmt.Fprintln(os.Stderr, "note: -skip is set: the recorded AWS calls are not compared with "+iamTemplate)
		return nil
	}
	recorded, err := readActions(path)
	if err != nil {
		return err
	}
	if !slices.Contains(recorded, "cloudformation:CreateStack") {
		if os.Getenv(mototest.EnvRequire) == "1" {
			return errors.New("no CloudFormation call was recorded, although " + mototest.EnvRequire + "=1")
		}
		fmt.Fprintln(os.Stderr, "note: the tests against moto did not run: the recorded AWS calls are not compared with "+iamTemplate)
		return nil
	}
	granted, err := brokerActions()
	if err != nil {
		return err
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "AWS actions the tests saw the program call: %s\n", strings.Join(recorded, " "))
	}
	return compareActions(recorded, granted)
}

// compareActions reports the recorded actions the policy does not grant
// and the granted ones never recorded.
func compareActions(recorded, granted []string) error {
	var errs []error
	for _, a := range recorded {
		if _, ok := needNoGrant[a]; !ok && !slices.Contains(granted, a) {
			errs = append(errs, fmt.Errorf("the program called %s, which the broker role does not grant", a))
		}
	}
	for _, a := range granted {
		_, notCall := notCalls[a]
		_, unreachable := unreachableOnMoto[a]
		if !notCall && !unreachable && !slices.Contains(recorded, a) {
			errs = append(errs, fmt.Errorf("the broker role grants %s, which no test saw the program call", a))
		}
	}
	return errors.Join(errs...)
}

// readActions returns the actions recorded in the file at path, sorted
// and without duplicates (several processes append to it).
func readActions(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for l := range strings.SplitSeq(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			set[l] = true
		}
	}
	return slices.Sorted(maps.Keys(set)), nil
}

// brokerActions returns the actions of every statement of the broker
// role's policies in the IAM template, conditional statements included,
// sorted and without duplicates.
func brokerActions() ([]string, error) {
	b, err := os.ReadFile(iamTemplate)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	role := lookup(doc.Content[0], "Resources", "BrokerRole", "Properties", "Policies")
	if role == nil {
		return nil, errors.New(iamTemplate + ": no Resources.BrokerRole.Properties.Policies")
	}
	set := map[string]bool{}
	for _, p := range role.Content {
		st := lookup(p, "PolicyDocument", "Statement")
		if st == nil {
			return nil, errors.New(iamTemplate + ": a broker role policy without PolicyDocument.Statement")
		}
		for _, s := range st.Content {
			// !If [condition, statement, !Ref AWS::NoValue]
			if s.Tag == "!If" && len(s.Content) == 3 {
				s = s.Content[1]
			}
			acts := lookup(s, "Action")
			if acts == nil {
				return nil, fmt.Errorf("%s: line %d: a statement without Action", iamTemplate, s.Line)
			}
			if acts.Kind == yaml.ScalarNode {
				set[acts.Value] = true
			}
			for _, a := range acts.Content {
				set[a.Value] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(set)), nil
}

// lookup follows keys through mappings; nil if one is missing.
func lookup(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}

// TestCompareActions: the comparison fails both ways.
func TestCompareActions(t *testing.T) {
	t.Parallel()
	granted := []string{"cloudformation:CreateStack", "iam:PassRole"}
	if err := compareActions([]string{"cloudformation:CreateStack", "sts:GetCallerIdentity"}, granted); err != nil {
		t.Errorf("exact match: %v", err)
	}
	if err := compareActions([]string{"cloudformation:CreateStack", "cloudformation:ListStacks"}, granted); err == nil || !strings.Contains(err.Error(), "called cloudformation:ListStacks") {
		t.Errorf("an ungranted call: %v", err)
	}
	if err := compareActions(nil, granted); err == nil || !strings.Contains(err.Error(), "grants cloudformation:CreateStack") {
		t.Errorf("a grant never called: %v", err)
	}
}

// TestIAMActionNames: the recorder's service mapping.
func TestIAMActionNames(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ service, op, want string }{
		{"CloudFormation", "CreateStack", "cloudformation:CreateStack"},
		{"IAM", "CreateAccessKey", "iam:CreateAccessKey"},
		{"STS", "AssumeRole", "sts:AssumeRole"},
		{"DynamoDB", "BatchGetItem", "dynamodb:BatchGetItem"},
		{"Secrets Manager", "GetSecretValue", "secretsmanager:GetSecretValue"},
		{"SSM", "GetParameter", "ssm:GetParameter"},
		{"SQS", "SendMessage", "unknown(SQS):SendMessage"},
	} {
		if got := iamAction(tt.service, tt.op); got != tt.want {
			t.Errorf("iamAction(%q, %q) = %q, want %q", tt.service, tt.op, got, tt.want)
		}
	}
}

// TestPolicyCoversClientInterfaces checks, without AWS, that every method
// of the narrow client interfaces the program gives the library is an
// action the broker role grants (or one that needs no grant), and that
// the role grants nothing else but notCalls: the static half of what
// TestMain checks with the recorded calls, covering code paths the tests
// against moto may not reach. The program does not wire binding.Resolver,
// so SSM and Secrets Manager are not among them, and must not be granted.
func TestPolicyCoversClientInterfaces(t *testing.T) {
	t.Parallel()
	granted, err := brokerActions()
	if err != nil {
		t.Fatal(err)
	}
	interfaces := map[string]reflect.Type{
		"cloudformation": reflect.TypeFor[cloudformation.API](),
		"iam":            reflect.TypeFor[accesskeys.API](),
		"sts":            reflect.TypeFor[credentials.AssumeRoleAPI](),
		"dynamodb":       reflect.TypeFor[dynamodb.Client](),
	}
	var used []string
	for prefix, typ := range interfaces {
		for m := range typ.Methods() {
			used = append(used, prefix+":"+m.Name)
		}
	}
	// The start-up check of the credentials (sts.Client directly, as
	// credentials.CallerIdentityAPI declares).
	used = append(used, "sts:"+reflect.TypeFor[credentials.CallerIdentityAPI]().Method(0).Name)
	slices.Sort(used)
	want := slices.DeleteFunc(slices.Clone(used), func(a string) bool { _, ok := needNoGrant[a]; return ok })
	want = append(want, slices.Collect(maps.Keys(notCalls))...)
	slices.Sort(want)
	if diff := cmp.Diff(want, granted); diff != "" {
		t.Errorf("%s grants other actions than the client interfaces the program uses (-want +granted):\n%s", iamTemplate, diff)
	}
}

// TestIAMTemplateLint runs cfn-lint on the deploy templates: syntax,
// resource properties, and IAM policies (action names per service, ARN
// formats).
func TestIAMTemplateLint(t *testing.T) {
	t.Parallel()
	path, err := exec.LookPath("cfn-lint")
	if err != nil {
		if os.Getenv(mototest.EnvRequire) == "1" {
			t.Fatalf("cfn-lint not found on PATH and %s=1 (it is installed with moto here: pip install cfn-lint)", mototest.EnvRequire)
		}
		t.Skip("cfn-lint not found on PATH; set " + mototest.EnvRequire + "=1 to make this a failure")
	}
	out, err := exec.Command(path, "--", iamTemplate, "deploy/state-table.yaml").CombinedOutput()
	if err != nil {
		t.Errorf("cfn-lint: %v\n%s", err, out)
	}
}
