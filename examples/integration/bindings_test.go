package integration

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"golang.org/x/time/rate"

	"github.com/brokerkit/brokerkit/binding"
	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/credentials"
	"github.com/brokerkit/brokerkit/internal/canary"
	"github.com/brokerkit/brokerkit/internal/mototest"
	"github.com/brokerkit/brokerkit/internal/osbspec"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/accesskeys"
	"github.com/brokerkit/brokerkit/provisioner/cloudformation"
	"github.com/brokerkit/brokerkit/provisioner/store"
)

// The IDs of the bindable SQS service: a catalog of its own, since
// sqsCatalog's service is not bindable.
const (
	bindServiceID = "7d2e4b6a-1c3f-4e5a-8b7c-9d0e1f2a3b01"
	bindPlanID    = "7d2e4b6a-1c3f-4e5a-8b7c-9d0e1f2a3b11"
)

// ssmValue is the value of the instance's SSM parameter, which its
// bindings' credentials hold in place of the output's reference.
const ssmValue = "resolved-from-ssm-parameter"

// bindLifetime is how long a binding's credentials are valid.
const bindLifetime = 30 * 24 * time.Hour

// bindQueuePolicy is the name of the inline policy of a binding's user.
const bindQueuePolicy = "queue-access"

// bindCatalog is one bindable, bindings_retrievable SQS service whose
// plan allows binding rotation.
func bindCatalog() catalog.Catalog {
	return catalog.Catalog{Services: []catalog.Service{{
		ID: bindServiceID, Name: "sqsbind", Description: "Amazon SQS queues with an IAM user per binding",
		Bindable: true, InstancesRetrievable: true, BindingsRetrievable: true,
		Plans: []catalog.Plan{{ID: bindPlanID, Name: "standard", Description: "An SQS standard queue", BindingRotatable: true,
			// Token is a secret parameter: the canary travels through it.
			Schemas: &catalog.Schemas{ServiceInstance: &catalog.ServiceInstanceSchemas{Create: &catalog.InputParameters{Parameters: catalog.Schema{
				"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
				"properties": map[string]any{"Token": map[string]any{"type": "string", "writeOnly": true}}}}}}}},
		Credentials: &catalog.CredentialsSpec{Type: "sqs", Provider: "aws", Lifetime: catalog.Duration(bindLifetime)},
	}}}
}

// bindingTemplate is the template of each binding's stack: an IAM user
// allowed exactly to send, receive, delete and change the visibility of
// messages of the instance's queue, whose ARN is the instance output
// QueueARN, passed as a parameter. It creates no access key: the key's
// secret must never sit in a stack output.
const bindingTemplate = `{
  "AWSTemplateFormatVersion": "2010-09-09",
  "Description": "brokerkit integration example: an IAM user for one binding of an SQS queue",
  "Parameters": {
    "QueueARN": {"Type": "String"}
  },
  "Resources": {
    "User": {"Type": "AWS::IAM::User"},
    "Policy": {
      "Type": "AWS::IAM::Policy",
      "Properties": {
        "PolicyName": "` + bindQueuePolicy + `",
        "Users": [{"Ref": "User"}],
        "PolicyDocument": {
          "Version": "2012-10-17",
          "Statement": [{
            "Effect": "Allow",
            "Action": ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"],
            "Resource": {"Ref": "QueueARN"}
          }]
        }
      }
    }
  },
  "Outputs": {
    "UserName": {"Value": {"Ref": "User"}},
    "UserARN": {"Value": {"Fn::GetAtt": ["User", "Arn"]}}
  }
}`

// bindBroker is a broker whose instances and bindings are both stacks.
type bindBroker struct {
	Instances, Bindings *provisioner.Tracker
	Client              *brokertest.Client
	// Source gives the AWS configuration of a Target, as the broker sees it.
	Source *credentials.Source
}

// bindStartedStore closes listed once Run has listed the operations to
// resume: requests wait for that, since Run schedules a record it lists
// before its start call returned a CallTimeout later.
type bindStartedStore struct {
	provisioner.Store
	once   sync.Once
	listed chan struct{}
}

func (s *bindStartedStore) InFlight(ctx context.Context) ([]*provisioner.Record, error) {
	recs, err := s.Store.InFlight(ctx)
	s.once.Do(func() { close(s.listed) })
	return recs, err
}

// targetRole is the role the broker assumes in an account a user names
// with target_account_id (moto does not check that it exists).
const targetRole = "brokerkit-target"

// startBindBroker assembles a broker as startBroker does, plus a second
// Stacks and Tracker for the bindings: its own store, the binding
// templates, the stack prefix prefix+"-bind", an access key per binding
// (provisioner/accesskeys) sealed by the Tracker. Instances may go to
// another account through target_account_id; their bindings follow.
func startBindBroker(t *testing.T, awsCfg aws.Config, prefix string) *bindBroker {
	t.Helper()
	log := testLogger(t)
	spec, err := osbspec.Load()
	if err != nil {
		t.Fatal(err)
	}
	idx, err := catalog.NewIndex(bindCatalog())
	if err != nil {
		t.Fatal(err)
	}
	src, err := credentials.New(credentials.Options{Base: awsCfg})
	if err != nil {
		t.Fatal(err)
	}
	cfnClients := credentials.NewClients(src, func(cfg aws.Config) cloudformation.API {
		return cloudformation.NewClient(cfg, rate.NewLimiter(200, 50))
	})
	iamClients := credentials.NewClients(src, func(cfg aws.Config) accesskeys.API { return iam.NewFromConfig(cfg) })
	sealer, err := provisioner.NewAESSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	// The queue template with a secret parameter, Token, that nothing
	// uses, and an SSM parameter whose name an output gives as an
	// "ssm:NAME" reference, resolved at bind time.
	queueBody := strings.Replace(fmt.Sprintf(queueTemplate, ""), `"Parameters": {`, `"Parameters": {
    "Token": {"Type": "String", "NoEcho": true, "Default": ""},`, 1)
	queueBody = strings.Replace(queueBody, `"Resources": {`, `"Resources": {
    "ConnectionSecret": {"Type": "AWS::SSM::Parameter", "Properties": {
      "Name": {"Fn::Sub": "/brokerkit/${AWS::StackName}/connection"}, "Type": "String", "Value": "`+ssmValue+`"}},`, 1)
	queueBody = strings.Replace(queueBody, `"Outputs": {`, `"Outputs": {
    "ConnectionSecret": {"Value": {"Fn::Sub": "ssm:${ConnectionSecret}"}},`, 1)
	ssmClients := credentials.NewClients(src, func(cfg aws.Config) binding.SSMAPI { return ssm.NewFromConfig(cfg) })
	queueTemplates := cloudformation.StaticTemplates{bindPlanID: {ID: "sqs-standard-v1", Body: queueBody,
		Parameters: map[string]cloudformation.ParameterSpec{"VisibilityTimeout": {Type: "Number"}, "MessageRetentionPeriod": {Type: "Number"},
			"Token": {Type: "String", NoEcho: true}}}}
	bindingTemplates := cloudformation.StaticTemplates{bindPlanID: {ID: "sqs-user-v1", Body: bindingTemplate,
		Parameters: map[string]cloudformation.ParameterSpec{"QueueARN": {Type: "String"}}, Capabilities: []string{"CAPABILITY_IAM"}}}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	tracker := func(prefix string, templates cloudformation.StaticTemplates, wrap func(provisioner.Provisioner) provisioner.Provisioner) *provisioner.Tracker {
		stacks, err := cloudformation.New(cloudformation.Options{Clients: cfnClients.For, Catalog: idx, Templates: templates,
			StackPrefix: prefix, BrokerID: "integration-test-broker", Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		st := &bindStartedStore{Store: store.NewMemory(), listed: make(chan struct{})}
		tr, err := provisioner.New(provisioner.Options{Store: st, Provisioner: wrap(stacks), Catalog: idx, Logger: log, Sealer: sealer,
			PollInterval: 50 * time.Millisecond, MaxPollInterval: 250 * time.Millisecond, CallTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { _ = tr.Run(ctx) })
		<-st.listed
		return tr
	}
	instances := tracker(prefix, queueTemplates, func(p provisioner.Provisioner) provisioner.Provisioner { return p })
	bindings := tracker(prefix+"-bind", bindingTemplates, func(p provisioner.Provisioner) provisioner.Provisioner {
		k, err := accesskeys.New(p, accesskeys.Options{Clients: iamClients.For, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		return k
	})

	backend := struct {
		*broker.Tracked
		*broker.TrackedBindings
	}{&broker.Tracked{Tracker: instances,
		// A user may name the account; the region and role name are the broker's.
		Target: func(_ context.Context, req *broker.ProvisionRequest) (credentials.Target, broker.Parameters, error) {
			return credentials.FromParameters(credentials.Target{RoleName: targetRole, Region: mototest.Region}, req.Parameters)
		},
	}, &broker.TrackedBindings{
		Instances: instances, Bindings: bindings,
		// Only the parameters the binding template declares are passed.
		Declared: func(planID string) []string {
			return slices.Sorted(maps.Keys(bindingTemplates[planID].Parameters))
		},
		// Credentials: the default, as the service's CredentialsSpec says,
		// with "ssm:" references resolved in the instance's account.
		Resolver: func(ctx context.Context, target credentials.Target) (*binding.Resolver, error) {
			c, err := ssmClients.For(ctx, target)
			if err != nil {
				return nil, err
			}
			return &binding.Resolver{SSM: c}, nil
		},
	}}
	h, err := broker.New(idx, backend, broker.Options{
		Authenticator: broker.BasicAuth(broker.Credential{Username: brokerUser, Password: brokerPassword}),
		RequireAsync:  broker.ActionProvision | broker.ActionUpdate | broker.ActionDeprovision | broker.ActionBind | broker.ActionUnbind,
		Logger:        log,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := brokertest.NewClient(srv.URL, brokertest.ClientOptions{
		Username: brokerUser, Password: brokerPassword,
		OnResponse: func(req *http.Request, resp *http.Response, body []byte) {
			if err := spec.ValidateResponse(req, resp.StatusCode, resp.Header, body); err != nil {
				t.Errorf("the broker's answer breaks openapi.yaml: %v", err)
			}
		},
	})
	return &bindBroker{Instances: instances, Bindings: bindings, Client: c, Source: src}
}

// TestMotoBindings binds, rebinds, rotates and unbinds against moto, and
// looks at each binding's IAM user and access key in moto after every
// step; each binding's key sends and receives a message on the queue.
func TestMotoBindings(t *testing.T) {
	t.Parallel()
	endpoint := mototest.Endpoint(t)
	awsCfg := mototest.Config(t, endpoint)
	b := startBindBroker(t, awsCfg, "itbind")
	runBindings(t, b, awsCfg, "itbind", nil)
}

// TestMotoCrossAccount provisions into another account named by
// target_account_id: the stack, the binding's user and its key live in
// that account and not in the broker's, and bind, unbind and deprovision
// reach them there.
func TestMotoCrossAccount(t *testing.T) {
	t.Parallel()
	endpoint := mototest.Endpoint(t)
	awsCfg := mototest.Config(t, endpoint)
	const account = "111111111111"
	b := startBindBroker(t, awsCfg, "itxacct")
	target := credentials.Target{AccountID: account, RoleName: targetRole, Region: mototest.Region}
	targetCfg, err := b.Source.Config(t.Context(), target)
	if err != nil {
		t.Fatal(err)
	}
	id := runBindings(t, b, targetCfg, "itxacct", broker.Parameters{"target_account_id": account})

	// The broker's own account never saw the stack.
	name := cloudformation.StackName("itxacct", "sqsbind", id)
	out, err := cfn.NewFromConfig(awsCfg).DescribeStacks(t.Context(), &cfn.DescribeStacksInput{StackName: aws.String(name)})
	if err == nil {
		t.Errorf("the instance's stack %s is in the broker's own account too: %v", name, out.Stacks)
	}
	inst, err := b.Instances.Instance(t.Context(), id)
	if !errors.Is(err, provisioner.ErrNotFound) {
		t.Errorf("instance after deprovision: %v, %v", inst, err)
	}

	// A bad account is a 400 that names the parameter.
	resp, err := b.Client.Provision(t.Context(), brokertest.ProvisionRequest{InstanceID: brokertest.NewUUID(), ServiceID: bindServiceID, PlanID: bindPlanID,
		OrganizationGUID: orgGUID, SpaceGUID: spaceGUID, AcceptsIncomplete: true, Parameters: broker.Parameters{"target_account_id": "12345"}})
	expectStatus(t, "provision into a bad account", resp, err, http.StatusBadRequest)
	if resp.Error == nil || !strings.Contains(resp.Error.Description, "target_account_id") {
		t.Errorf("bad account: %+v, want a description naming target_account_id", resp.Error)
	}
}

// runBindings provisions an instance with extra parameters, binds,
// rebinds, rotates and unbinds, then deprovisions. awsCfg reaches the
// account the instance lives in. It returns the instance ID.
func runBindings(t *testing.T, b *bindBroker, awsCfg aws.Config, prefix string, extra broker.Parameters) string {
	t.Helper()
	c, ctx := b.Client, t.Context()
	users := iam.NewFromConfig(awsCfg)

	id := brokertest.NewUUID()
	params := broker.Parameters{"VisibilityTimeout": 30, "MessageRetentionPeriod": 345600, "Token": canary.Plant(t)}
	maps.Copy(params, extra)
	prov, err := c.Provision(ctx, brokertest.ProvisionRequest{InstanceID: id, ServiceID: bindServiceID, PlanID: bindPlanID,
		OrganizationGUID: orgGUID, SpaceGUID: spaceGUID, AcceptsIncomplete: true, Parameters: params})
	expectStatus(t, "provision", prov, err, http.StatusAccepted)
	awaitOperation(t, c, id, prov.Value.Operation)
	inst, err := b.Instances.Instance(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	queueARN, queueURL := inst.Outputs["QueueARN"], inst.Outputs["QueueURL"]
	if ref := inst.Outputs["ConnectionSecret"]; !strings.HasPrefix(ref, "ssm:/brokerkit/") {
		t.Fatalf("the instance's ConnectionSecret output is %q, want an ssm: reference", ref)
	}
	if _, err := cfn.NewFromConfig(awsCfg).DescribeStacks(ctx, &cfn.DescribeStacksInput{StackName: aws.String(inst.Resource)}); err != nil {
		t.Fatalf("the instance's stack is not in the expected account: %v", err)
	}

	bind := func(bindingID, predecessor string) brokertest.BindRequest {
		return brokertest.BindRequest{InstanceID: id, BindingID: bindingID, ServiceID: bindServiceID, PlanID: bindPlanID,
			PredecessorBindingID: predecessor, AcceptsIncomplete: true}
	}
	getBinding := func(bindingID string) *brokertest.Response[brokertest.Binding] {
		t.Helper()
		got, err := c.GetBinding(ctx, brokertest.GetBindingRequest{InstanceID: id, BindingID: bindingID, ServiceID: bindServiceID, PlanID: bindPlanID})
		expectStatus(t, "fetch binding "+bindingID, got, err, http.StatusOK)
		return got
	}
	// bound binds (202), polls to success, checks the user, its policy,
	// its one key and that the key works, and returns the credentials.
	bound := func(req brokertest.BindRequest) broker.Credentials {
		t.Helper()
		before := time.Now()
		resp, err := c.Bind(ctx, req)
		expectStatus(t, "bind "+req.BindingID, resp, err, http.StatusAccepted)
		if resp.Value.Operation == "" {
			t.Fatalf("bind %s: 202 without an operation", req.BindingID)
		}
		lo, err := c.PollBindingLastOperation(ctx, id, req.BindingID, resp.Value.Operation, pollOptions)
		if err != nil || lo.State != broker.Succeeded {
			t.Fatalf("bind %s: %v %q %s", req.BindingID, err, lo.State, lo.Description)
		}
		got := getBinding(req.BindingID).Value
		creds := got.Credentials
		for _, k := range []string{"QueueURL", "QueueARN", "UserName", "UserARN", "AccessKeyId", "SecretAccessKey"} {
			if s, _ := creds[k].(string); s == "" {
				t.Errorf("binding %s: credential %s missing; keys %v", req.BindingID, k, slices.Sorted(maps.Keys(creds)))
			}
		}
		if creds["QueueARN"] != queueARN {
			t.Errorf("binding %s: QueueARN %v, want the instance's %s", req.BindingID, creds["QueueARN"], queueARN)
		}
		if creds["ConnectionSecret"] != ssmValue {
			t.Errorf("binding %s: ConnectionSecret %q, want the SSM parameter's value (the output is a reference to it)", req.BindingID, creds["ConnectionSecret"])
		}
		// The catalog's 30-day lifetime is the binding's expires_at.
		if got.Metadata == nil || got.Metadata.ExpiresAt == "" {
			t.Errorf("binding %s: no expires_at", req.BindingID)
		} else if exp, err := time.Parse(time.RFC3339, got.Metadata.ExpiresAt); err != nil || exp.Before(before.Add(bindLifetime-time.Minute)) || exp.After(time.Now().Add(bindLifetime+time.Second)) {
			t.Errorf("binding %s: expires_at %s, %v; want 30 days from now", req.BindingID, got.Metadata.ExpiresAt, err)
		}
		name, _ := creds["UserName"].(string)
		checkBindingUser(t, users, name, queueARN)
		keys, err := users.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(name)})
		if err != nil || len(keys.AccessKeyMetadata) != 1 || aws.ToString(keys.AccessKeyMetadata[0].AccessKeyId) != creds["AccessKeyId"] {
			t.Errorf("binding %s: user %s has keys %v, %v; want exactly the binding's", req.BindingID, name, keys, err)
		}
		useQueue(t, awsCfg, creds, queueURL)
		return creds
	}

	first := brokertest.NewUUID()
	creds1 := bound(bind(first, ""))
	user1 := creds1["UserName"].(string)

	// The binding's stack has its own prefix, and a name made valid from
	// the binding key (its "/" removed, a hash appended).
	name := cloudformation.StackName(prefix+"-bind", "sqsbind", broker.BindingKey(id, first))
	if !regexp.MustCompile(`^` + prefix + `-bind-sqsbind-[-A-Za-z0-9]+-[0-9a-f]{8}$`).MatchString(name) {
		t.Errorf("binding stack name %q", name)
	}

	// An identical bind of a bound binding is 200 with the same credentials.
	again, err := c.Bind(ctx, bind(first, ""))
	expectStatus(t, "identical bind", again, err, http.StatusOK)
	if again.Value.Credentials["UserName"] != user1 || again.Value.Credentials["AccessKeyId"] != creds1["AccessKeyId"] ||
		again.Value.Credentials["SecretAccessKey"] != creds1["SecretAccessKey"] {
		t.Errorf("identical bind: another user or key than the first bind's")
	}

	// Rotation: a new binding with a new user and key; the old one keeps working.
	second := brokertest.NewUUID()
	creds2 := bound(bind(second, first))
	user2 := creds2["UserName"].(string)
	if user2 == user1 || creds2["AccessKeyId"] == creds1["AccessKeyId"] {
		t.Fatalf("the rotated binding has the predecessor's user %s or key", user1)
	}
	checkBindingUser(t, users, user1, queueARN)
	useQueue(t, awsCfg, creds1, queueURL)

	// Unbind the first: its key and user are gone, the second's stay.
	un, err := c.Unbind(ctx, brokertest.UnbindRequest{InstanceID: id, BindingID: first, ServiceID: bindServiceID, PlanID: bindPlanID, AcceptsIncomplete: true})
	expectStatus(t, "unbind", un, err, http.StatusAccepted)
	lo, err := c.PollBindingLastOperation(ctx, id, first, un.Value.Operation, pollOptions)
	if err != nil || lo.State != broker.Succeeded {
		t.Fatalf("unbind: %v %q %s", err, lo.State, lo.Description)
	}
	_, err = users.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(user1)})
	if nse := (*iamtypes.NoSuchEntityException)(nil); !errors.As(err, &nse) {
		t.Errorf("ListAccessKeys %s after unbind: %v; want NoSuchEntity (user and key gone)", user1, err)
	}
	_, err = users.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(user1)})
	if nse := (*iamtypes.NoSuchEntityException)(nil); !errors.As(err, &nse) {
		t.Errorf("GetUser %s after unbind: %v; want NoSuchEntity", user1, err)
	}
	checkBindingUser(t, users, user2, queueARN)
	useQueue(t, awsCfg, getBinding(second).Value.Credentials, queueURL)

	again2, err := c.Unbind(ctx, brokertest.UnbindRequest{InstanceID: id, BindingID: first, ServiceID: bindServiceID, PlanID: bindPlanID, AcceptsIncomplete: true})
	expectStatus(t, "unbind again", again2, err, http.StatusGone)

	// Clean up: unbind the second, deprovision.
	un, err = c.Unbind(ctx, brokertest.UnbindRequest{InstanceID: id, BindingID: second, ServiceID: bindServiceID, PlanID: bindPlanID, AcceptsIncomplete: true})
	expectStatus(t, "unbind second", un, err, http.StatusAccepted)
	if lo, err := c.PollBindingLastOperation(ctx, id, second, un.Value.Operation, pollOptions); err != nil || lo.State != broker.Succeeded {
		t.Fatalf("unbind second: %v %q %s", err, lo.State, lo.Description)
	}
	dep, err := c.Deprovision(ctx, brokertest.DeprovisionRequest{InstanceID: id, ServiceID: bindServiceID, PlanID: bindPlanID, AcceptsIncomplete: true})
	expectStatus(t, "deprovision", dep, err, http.StatusAccepted)
	awaitOperation(t, c, id, dep.Value.Operation)
	if _, err := cfn.NewFromConfig(awsCfg).DescribeStacks(ctx, &cfn.DescribeStacksInput{StackName: aws.String(cloudformation.StackName(prefix, "sqsbind", id))}); err == nil {
		t.Errorf("the instance's stack still exists after deprovision")
	}
	return id
}

// useQueue sends a message to queueURL and receives it with the access
// key in creds, against the moto endpoint of awsCfg. (moto does not
// enforce IAM without INITIAL_NO_AUTH_ACTION_COUNT: this proves the key
// and the queue URL form a working client configuration, not that the
// policy is what allows it; checkBindingUser checks the policy.)
func useQueue(t *testing.T, awsCfg aws.Config, creds broker.Credentials, queueURL string) {
	t.Helper()
	id, _ := creds["AccessKeyId"].(string)
	secret, _ := creds["SecretAccessKey"].(string)
	cfg := awsCfg.Copy()
	cfg.Credentials = awscreds.NewStaticCredentialsProvider(id, secret, "")
	q := sqs.NewFromConfig(cfg)
	body := "hello from " + id
	if _, err := q.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body)}); err != nil {
		t.Fatalf("SendMessage with the binding's key: %v", err)
	}
	out, err := q.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatalf("ReceiveMessage with the binding's key: %v", err)
	}
	for _, m := range out.Messages {
		if aws.ToString(m.Body) == body {
			if _, err := q.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Errorf("DeleteMessage: %v", err)
			}
			return
		}
	}
	t.Errorf("the message sent with the binding's key was not received (%d messages)", len(out.Messages))
}

// checkBindingUser fails the test unless the IAM user name exists in moto
// with the inline policy that allows exactly the four queue actions on
// queueARN.
func checkBindingUser(t *testing.T, users *iam.Client, name, queueARN string) {
	t.Helper()
	if name == "" {
		t.Fatal("no user name")
	}
	if _, err := users.GetUser(t.Context(), &iam.GetUserInput{UserName: aws.String(name)}); err != nil {
		t.Fatalf("GetUser %s: %v", name, err)
	}
	pol, err := users.GetUserPolicy(t.Context(), &iam.GetUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String(bindQueuePolicy)})
	if err != nil {
		t.Fatalf("GetUserPolicy %s: %v", name, err)
	}
	doc, err := url.QueryUnescape(aws.ToString(pol.PolicyDocument))
	if err != nil {
		t.Fatalf("policy document of %s: %v", name, err)
	}
	want := regexp.MustCompile(`"Action":\s*\[\s*"sqs:SendMessage",\s*"sqs:ReceiveMessage",\s*"sqs:DeleteMessage",\s*"sqs:ChangeMessageVisibility"\s*\]`)
	if !want.MatchString(doc) || !regexp.MustCompile(`"Resource":\s*"`+regexp.QuoteMeta(queueARN)+`"`).MatchString(doc) {
		t.Errorf("policy of %s: %s; want the four queue actions on %s", name, doc, queueARN)
	}
}
