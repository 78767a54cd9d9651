package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/internal/mototest"
)

// brokerPolicyName is the broker role's inline policy in deploy/iam.yaml.
const brokerPolicyName = "brokerkit-broker"

// policyDoc is an IAM policy document, as moto returns it.
type policyDoc struct {
	Version   string
	Statement []map[string]any
}

// TestIAMOnMoto deploys deploy/iam.yaml on a moto_server that checks IAM
// policies, runs the program with credentials of the broker role it
// creates and plays provision, bind, unbind and deprovision; then it takes
// one action the flow needs out of the role's policy at a time and checks
// that the platform sees the call fail, with a description naming the
// missing action.
//
// What moto 5.2 checks, and so what this proves: the action of every call
// against the caller's identity policies (inline, attached, groups';
// explicit Deny wins; "*" wildcards); a signature from a known access key;
// for sts:AssumeRole of an existing role, the role's trust policy
// (principal ARN by exact match, StringEquals on sts:ExternalId). It does
// not check resources for CloudFormation, IAM users, DynamoDB and most
// services (the call's resource is "*", which an ARN pattern does not
// match, so the test sets the role's Resource elements to "*" except for
// sts:AssumeRole), nor conditions other than StringEquals on values in the
// request, nor iam:PassRole, nor what CloudFormation does with the stack's
// role (moto's CloudFormation creates resources without any check). The
// resource scoping of the template is checked by cfn-lint's ARN formats
// and by reading, not by moto.
func TestIAMOnMoto(t *testing.T) {
	// The first three calls are not checked: they make the administrator
	// that sets up the rest.
	endpoint := mototest.Start(t, "INITIAL_NO_AUTH_ACTION_COUNT=3")
	ctx := t.Context()
	anon := iam.NewFromConfig(mototest.Config(t, endpoint))
	must(anon.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("admin")}))(t)
	must(anon.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("admin"), PolicyName: aws.String("all"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)}))(t)
	adminCfg := userConfig(t, endpoint, must(anon.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("admin")}))(t))
	admin := iam.NewFromConfig(adminCfg)

	// The checks are on: the dummy credentials are refused now.
	if _, err := anon.ListUsers(ctx, &iam.ListUsersInput{}); err == nil {
		t.Fatal("moto accepted a fourth call with unknown credentials: its IAM checks are off")
	}

	// The operator: a user allowed only to assume the broker role, which
	// trusts it (TrustedPrincipalARN).
	operator := must(admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("operator")}))(t)
	must(admin.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("operator"), PolicyName: aws.String("assume-broker"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::123456789012:role/brokerkit-broker"}]}`)}))(t)
	operatorCfg := userConfig(t, endpoint, must(admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("operator")}))(t))

	// Deploy the template as the administrator.
	prefix := "t" + brokertest.NewUUID()[:8]
	body, err := os.ReadFile(iamTemplate)
	if err != nil {
		t.Fatal(err)
	}
	stacks := cfn.NewFromConfig(adminCfg)
	must(stacks.CreateStack(ctx, &cfn.CreateStackInput{StackName: aws.String("brokerkit-iam"), TemplateBody: aws.String(string(body)),
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam},
		Parameters: []cfntypes.Parameter{
			{ParameterKey: aws.String("StackPrefix"), ParameterValue: aws.String(prefix)},
			{ParameterKey: aws.String("TrustedPrincipalARN"), ParameterValue: operator.User.Arn},
		}}))(t)
	out := must(stacks.DescribeStacks(ctx, &cfn.DescribeStacksInput{StackName: aws.String("brokerkit-iam")}))(t)
	if st := out.Stacks[0].StackStatus; st != cfntypes.StackStatusCreateComplete {
		t.Fatalf("the IAM template's stack is %s", st)
	}
	outputs := map[string]string{}
	for _, o := range out.Stacks[0].Outputs {
		outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	if outputs["BrokerRoleARN"] != "arn:aws:iam::123456789012:role/brokerkit-broker" || outputs["CloudFormationRoleARN"] == "" {
		t.Fatalf("the IAM template's outputs: %v", outputs)
	}

	// The broker role's policy as deployed, with Resource "*" where moto
	// compares "*" (see above).
	deployed := rolePolicy(t, admin)
	granted, err := brokerActions()
	if err != nil {
		t.Fatal(err)
	}
	// Without TargetRoleName and DynamoDBTableName, their statements are
	// left out.
	var actions []string
	for _, s := range deployed.Statement {
		actions = append(actions, stringsOf(s["Action"])...)
		if !slices.Contains(stringsOf(s["Action"]), "sts:AssumeRole") {
			s["Resource"] = "*"
		}
	}
	for _, a := range granted {
		if !strings.HasPrefix(a, "sts:") && !strings.HasPrefix(a, "dynamodb:") && !slices.Contains(actions, a) {
			t.Errorf("the deployed broker policy lacks %s", a)
		}
	}
	putPolicy := func(drop string) {
		t.Helper()
		doc := policyDoc{Version: deployed.Version}
		for _, s := range deployed.Statement {
			s2 := map[string]any{}
			for k, v := range s {
				s2[k] = v
			}
			s2["Action"] = slices.DeleteFunc(stringsOf(s["Action"]), func(a string) bool { return a == drop })
			doc.Statement = append(doc.Statement, s2)
		}
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		must(admin.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("brokerkit-broker"),
			PolicyName: aws.String(brokerPolicyName), PolicyDocument: aws.String(string(b))}))(t)
	}
	putPolicy("")

	// The operator assumes the broker role; the program runs with that
	// role's session, as it would with IRSA.
	sess := must(sts.NewFromConfig(operatorCfg).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String(outputs["BrokerRoleARN"]), RoleSessionName: aws.String("awsbroker")}))(t)
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": aws.ToString(sess.Credentials.AccessKeyId),
		"AWS_SECRET_ACCESS_KEY": aws.ToString(sess.Credentials.SecretAccessKey), "AWS_SESSION_TOKEN": aws.ToString(sess.Credentials.SessionToken),
		"AWS_PROFILE": "", "AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none, "AWS_CA_BUNDLE": "", "AWS_REGION": "",
	} {
		t.Setenv(k, v)
	}
	p := startProgram(t, "", "-stack-prefix", prefix, "-role-arn", outputs["CloudFormationRoleARN"])
	p.Prefix = prefix
	c := p.catalog(t)

	// The whole flow with exactly the template's actions.
	id := p.provision(t, c, "sqs", "standard", nil)
	creds := p.bound(t, c, "sqs", "standard", id, "b1", "")
	wantKeys(t, creds, "QueueURL", "QueueARN", "AccessKeyId", "SecretAccessKey")
	p.unbind(t, c, "sqs", "standard", id, "b1")
	deprovisioned(t, p, c, id)

	// Without cloudformation:CreateStack, a provision is refused at once
	// (422) with AWS's message, which names the action.
	putPolicy("cloudformation:CreateStack")
	sid, pid := planIDs(t, c, "sqs", "standard")
	resp, err := p.Client.Provision(ctx, brokertest.ProvisionRequest{InstanceID: brokertest.NewUUID(), ServiceID: sid, PlanID: pid,
		OrganizationGUID: "org", SpaceGUID: "space", AcceptsIncomplete: true})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusUnprocessableEntity || resp.Error == nil ||
		!strings.Contains(resp.Error.Description, "AccessDenied") || !strings.Contains(resp.Error.Description, "cloudformation:CreateStack") {
		t.Errorf("provision without cloudformation:CreateStack: %d %s, want 422 naming AccessDenied and the action", resp.StatusCode, resp.Body)
	}
	t.Logf("provision without cloudformation:CreateStack: %d %s", resp.StatusCode, resp.Body)

	// Without iam:CreateAccessKey, the binding's stack is made, then the
	// bind fails: last_operation "failed", naming the action.
	putPolicy("iam:CreateAccessKey")
	id = p.provision(t, c, "sqs", "standard", nil)
	bresp := p.bind(t, c, "sqs", "standard", id, "b2", "")
	wantStatus(t, "bind", bresp, http.StatusAccepted)
	lo, err := p.Client.PollBindingLastOperation(ctx, id, "b2", bresp.Value.Operation, pollFast)
	if err != nil {
		t.Fatal(err)
	}
	if lo.State != broker.Failed || !strings.Contains(lo.Description, "AccessDenied") || !strings.Contains(lo.Description, "iam:CreateAccessKey") {
		t.Errorf("bind without iam:CreateAccessKey: %s %q, want failed naming AccessDenied and the action", lo.State, lo.Description)
	}
	t.Logf("bind without iam:CreateAccessKey: %s: %s", lo.State, lo.Description)

	// Without cloudformation:DeleteStack, the unbind of that binding fails
	// the same way (the keys are gone first: none was made).
	putPolicy("cloudformation:DeleteStack")
	uresp := p.unbindOnce(t, c, "sqs", "standard", id, "b2")
	switch {
	case uresp.StatusCode == http.StatusAccepted:
		lo, err := p.Client.PollBindingLastOperation(ctx, id, "b2", uresp.Value.Operation, pollFast)
		if err != nil || lo.State != broker.Failed || !strings.Contains(lo.Description, "cloudformation:DeleteStack") {
			t.Errorf("unbind without cloudformation:DeleteStack: %v %s %q, want failed naming the action", err, lo.State, lo.Description)
		}
		t.Logf("unbind without cloudformation:DeleteStack: %s: %s", lo.State, lo.Description)
	case uresp.Error == nil || !strings.Contains(uresp.Error.Description, "cloudformation:DeleteStack"):
		t.Errorf("unbind without cloudformation:DeleteStack: %d %s, want a failure naming the action", uresp.StatusCode, uresp.Body)
	default:
		t.Logf("unbind without cloudformation:DeleteStack: %d %s", uresp.StatusCode, uresp.Body)
	}

	// With the whole policy again, everything is cleaned up.
	putPolicy("")
	p.unbind(t, c, "sqs", "standard", id, "b2")
	deprovisioned(t, p, c, id)
}

// must returns a function that fails t if err is not nil, and returns v:
// must(client.Call(ctx, in))(t).
func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// userConfig is an AWS configuration for moto at endpoint with a user's
// access key.
func userConfig(t *testing.T, endpoint string, key *iam.CreateAccessKeyOutput) aws.Config {
	t.Helper()
	cfg := mototest.Config(t, endpoint)
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey), "")
	return cfg
}

// rolePolicy reads the broker role's inline policy.
func rolePolicy(t *testing.T, client *iam.Client) policyDoc {
	t.Helper()
	out, err := client.GetRolePolicy(t.Context(), &iam.GetRolePolicyInput{RoleName: aws.String("brokerkit-broker"), PolicyName: aws.String(brokerPolicyName)})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := url.QueryUnescape(aws.ToString(out.PolicyDocument))
	if err != nil {
		t.Fatal(err)
	}
	// moto 5.2's CloudFormation stores a role's inline policy as Python's
	// repr of it, with None for AWS::NoValue (and so its own IAM checks
	// cannot read it): read it as JSON, which it is once its quotes and
	// None are, and drop the statements left out.
	if strings.HasPrefix(doc, "{'") {
		doc = strings.NewReplacer("'", `"`, "None", "null", "True", "true", "False", "false").Replace(doc)
	}
	var p policyDoc
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatalf("the broker role's policy: %v\n%s", err, doc)
	}
	p.Statement = slices.DeleteFunc(p.Statement, func(s map[string]any) bool { return s == nil })
	return p
}

// stringsOf returns a policy element that is a string or a list of them.
func stringsOf(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return v
	}
	return nil
}

// deprovisioned deprovisions an instance and waits until it is gone.
func deprovisioned(t *testing.T, p *proc, c *catalog.Catalog, id string) {
	t.Helper()
	sid, pid := planIDs(t, c, "sqs", "standard")
	resp, err := p.Client.Deprovision(t.Context(), brokertest.DeprovisionRequest{InstanceID: id, ServiceID: sid, PlanID: pid, AcceptsIncomplete: true})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "deprovision", resp, http.StatusAccepted)
	lo, err := p.Client.PollLastOperation(t.Context(), id, resp.Value.Operation, pollFast)
	if err != nil && !errors.Is(err, brokertest.ErrGone) {
		t.Fatalf("polling the deprovision: %v", err)
	}
	if err == nil && lo.State != broker.Succeeded {
		t.Fatalf("deprovision: %s: %s", lo.State, lo.Description)
	}
}
