package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/catalog"
	bkcredentials "github.com/brokerkit/brokerkit/credentials"
	"github.com/brokerkit/brokerkit/internal/mototest"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/cloudformation"
	"github.com/brokerkit/brokerkit/provisioner/store"
)

// The platform's credentials in these tests.
const (
	platformUser     = "platform"
	platformPassword = "moto-test-password"
)

// motoEnv points the AWS SDK's default configuration at moto, through
// the process environment, as an operator would: AWS_ENDPOINT_URL and
// static credentials, with no shared config files. Tests that call it
// cannot run in parallel.
func motoEnv(t *testing.T) string {
	t.Helper()
	endpoint := mototest.Endpoint(t)
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "AKIAMOTOTEST", "AWS_SECRET_ACCESS_KEY": "motosecret",
		"AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none,
		"AWS_CA_BUNDLE": "", "AWS_REGION": "",
	} {
		t.Setenv(k, v)
	}
	return endpoint
}

// proc is the program running in-process.
type proc struct {
	URL    string
	Client *brokertest.Client
	Stderr *syncBuffer
	// Dir holds the state file, bindings.db and binding.key.
	Dir    string
	Prefix string

	cancel context.CancelFunc
	done   chan int
}

// startProgram runs the program's run function on a free loopback port
// with a data directory in dir (a new one when empty), a stack prefix of
// its own unless args set one, and args after the defaults, and waits
// until it listens.
func startProgram(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	p := &proc{Stderr: &syncBuffer{}, Dir: dir, Prefix: "t" + brokertest.NewUUID()[:8], done: make(chan int, 1)}
	all := append([]string{
		"-listen", "127.0.0.1:0", "-region", mototest.Region, "-stack-prefix", p.Prefix,
		"-state", filepath.Join(dir, "state.db"), "-broker-id", "moto-test",
	}, args...)
	ready := make(chan net.Addr, 1)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	prog := program{Args: all, Getenv: envOf(map[string]string{"BROKER_USERS": platformUser + ":" + platformPassword,
		envRecordCalls: os.Getenv(envRecordCalls)}),
		Stdout: &syncBuffer{}, Stderr: p.Stderr, Ready: func(a net.Addr) { ready <- a }, pollInterval: 50 * time.Millisecond}
	go func() { p.done <- prog.run(ctx) }()
	select {
	case addr := <-ready:
		p.URL = "http://" + addr.String()
	case code := <-p.done:
		cancel()
		t.Fatalf("the program exited with %d before listening; stderr:\n%s", code, p.Stderr)
	case <-time.After(time.Minute):
		cancel()
		t.Fatalf("the program did not listen within a minute; stderr:\n%s", p.Stderr)
	}
	p.Client = brokertest.NewClient(p.URL, brokertest.ClientOptions{Username: platformUser, Password: platformPassword})
	t.Cleanup(func() {
		if p.cancel != nil {
			p.Stop(t)
		}
		if t.Failed() {
			t.Logf("program stderr:\n%s", p.Stderr)
		}
	})
	return p
}

// Stop signals the program to stop and returns its exit code.
func (p *proc) Stop(t *testing.T) int {
	t.Helper()
	p.cancel()
	p.cancel = nil
	select {
	case code := <-p.done:
		return code
	case <-time.After(time.Minute):
		t.Fatalf("the program did not stop within a minute; stderr:\n%s", p.Stderr)
		return -1
	}
}

var pollFast = brokertest.PollOptions{Interval: 50 * time.Millisecond, MaxInterval: 200 * time.Millisecond, Timeout: time.Minute}

// provision provisions an instance of service/plan and waits for it.
func (p *proc) provision(t *testing.T, c *catalog.Catalog, service, plan string, params broker.Parameters) (instanceID string) {
	t.Helper()
	sid, pid := planIDs(t, c, service, plan)
	instanceID = brokertest.NewUUID()
	resp, err := p.Client.Provision(t.Context(), brokertest.ProvisionRequest{InstanceID: instanceID, ServiceID: sid, PlanID: pid,
		OrganizationGUID: "org", SpaceGUID: "space", Parameters: params, AcceptsIncomplete: true,
		Context: map[string]any{"platform": "kubernetes", "namespace": "default"}})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "provision "+service+"/"+plan, resp, http.StatusAccepted)
	lo, err := p.Client.PollLastOperation(t.Context(), instanceID, resp.Value.Operation, pollFast)
	if err != nil {
		t.Fatalf("polling the provision of %s/%s: %v", service, plan, err)
	}
	if lo.State != broker.Succeeded {
		t.Fatalf("provision of %s/%s: %s: %s", service, plan, lo.State, lo.Description)
	}
	return instanceID
}

// deprovision deletes an instance and waits until its stack is gone.
func (p *proc) deprovision(t *testing.T, c *catalog.Catalog, endpoint, service, plan, instanceID string) {
	t.Helper()
	sid, pid := planIDs(t, c, service, plan)
	resp, err := p.Client.Deprovision(t.Context(), brokertest.DeprovisionRequest{InstanceID: instanceID, ServiceID: sid, PlanID: pid, AcceptsIncomplete: true})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "deprovision", resp, http.StatusAccepted)
	lo, err := p.Client.PollLastOperation(t.Context(), instanceID, resp.Value.Operation, pollFast)
	if err != nil && !errors.Is(err, brokertest.ErrGone) {
		t.Fatalf("polling the deprovision: %v", err)
	}
	if err == nil && lo.State != broker.Succeeded {
		t.Fatalf("deprovision: %s: %s", lo.State, lo.Description)
	}
	stack := cloudformation.StackName(p.Prefix, service, instanceID)
	_, err = cfn.NewFromConfig(mototest.Config(t, endpoint)).DescribeStacks(t.Context(), &cfn.DescribeStacksInput{StackName: aws.String(stack)})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("stack %s after the deprovision: DescribeStacks error %v, want \"does not exist\"", stack, err)
	}
}

// bind asks for a binding (asynchronous) with predecessor, if not "".
func (p *proc) bind(t *testing.T, c *catalog.Catalog, service, plan, instanceID, bindingID, predecessor string) *brokertest.Response[brokertest.BindResponse] {
	t.Helper()
	sid, pid := planIDs(t, c, service, plan)
	resp, err := p.Client.Bind(t.Context(), brokertest.BindRequest{InstanceID: instanceID, BindingID: bindingID, ServiceID: sid, PlanID: pid,
		BindResource: map[string]any{"app_guid": "app"}, PredecessorBindingID: predecessor, AcceptsIncomplete: true})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// bound binds (202), polls the binding's last operation to success and
// returns the credentials of GET binding.
func (p *proc) bound(t *testing.T, c *catalog.Catalog, service, plan, instanceID, bindingID, predecessor string) broker.Credentials {
	t.Helper()
	resp := p.bind(t, c, service, plan, instanceID, bindingID, predecessor)
	wantStatus(t, "bind", resp, http.StatusAccepted)
	lo, err := p.Client.PollBindingLastOperation(t.Context(), instanceID, bindingID, resp.Value.Operation, pollFast)
	if err != nil || lo.State != broker.Succeeded {
		t.Fatalf("bind %s: %v %s %s", bindingID, err, lo.State, lo.Description)
	}
	return p.getBinding(t, c, service, plan, instanceID, bindingID)
}

// getBinding returns the credentials of GET binding, which must be 200.
func (p *proc) getBinding(t *testing.T, c *catalog.Catalog, service, plan, instanceID, bindingID string) broker.Credentials {
	t.Helper()
	sid, pid := planIDs(t, c, service, plan)
	got, err := p.Client.GetBinding(t.Context(), brokertest.GetBindingRequest{InstanceID: instanceID, BindingID: bindingID, ServiceID: sid, PlanID: pid})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "GET binding", got, http.StatusOK)
	return got.Value.Credentials
}

// unbind deletes a binding and waits for it.
func (p *proc) unbind(t *testing.T, c *catalog.Catalog, service, plan, instanceID, bindingID string) {
	t.Helper()
	resp := p.unbindOnce(t, c, service, plan, instanceID, bindingID)
	wantStatus(t, "unbind", resp, http.StatusAccepted)
	lo, err := p.Client.PollBindingLastOperation(t.Context(), instanceID, bindingID, resp.Value.Operation, pollFast)
	if err != nil && !errors.Is(err, brokertest.ErrGone) {
		t.Fatalf("polling the unbind of %s: %v", bindingID, err)
	}
	if err == nil && lo.State != broker.Succeeded {
		t.Fatalf("unbind %s: %s %s", bindingID, lo.State, lo.Description)
	}
}

func (p *proc) unbindOnce(t *testing.T, c *catalog.Catalog, service, plan, instanceID, bindingID string) *brokertest.Response[brokertest.OperationResponse] {
	t.Helper()
	sid, pid := planIDs(t, c, service, plan)
	resp, err := p.Client.Unbind(t.Context(), brokertest.UnbindRequest{InstanceID: instanceID, BindingID: bindingID, ServiceID: sid, PlanID: pid, AcceptsIncomplete: true})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (p *proc) catalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	resp, err := p.Client.Catalog(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "catalog", resp, http.StatusOK)
	return &resp.Value
}

// bindingPolicyName is the name of the inline policy of the binding
// templates' users.
const bindingPolicyName = "binding"

// statement is one statement of an IAM policy, as the binding templates
// write them.
type statement struct {
	Sid      string
	Effect   string
	Action   []string
	Resource string
}

// policyOf returns the statements of the inline policy of a binding's IAM
// user, or fails.
func policyOf(t *testing.T, client *iam.Client, user string) []statement {
	t.Helper()
	out, err := client.GetUserPolicy(t.Context(), &iam.GetUserPolicyInput{UserName: aws.String(user), PolicyName: aws.String(bindingPolicyName)})
	if err != nil {
		t.Fatalf("reading the policy of IAM user %s: %v", user, err)
	}
	raw := aws.ToString(out.PolicyDocument)
	if strings.HasPrefix(raw, "%7B") { // IAM answers policies URL-encoded
		var err error
		if raw, err = url.QueryUnescape(raw); err != nil {
			t.Fatal(err)
		}
	}
	var doc struct{ Statement []statement }
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatalf("policy of IAM user %s: %v: %s", user, err, raw)
	}
	return doc.Statement
}

// wantKeys fails unless every key is a non-empty string in creds.
func wantKeys(t *testing.T, creds broker.Credentials, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if s, _ := creds[k].(string); s == "" {
			t.Errorf("credential %s is missing or empty (keys: %v)", k, slices.Sorted(maps.Keys(creds)))
		}
	}
}

// useQueue sends a message to the queue of creds and receives it with the
// binding's key and nothing else the broker knows. (moto does not
// enforce IAM policies: policyOf checks the policy.)
func useQueue(t *testing.T, endpoint string, creds broker.Credentials) {
	t.Helper()
	app := sqs.NewFromConfig(aws.Config{
		Region:       creds["Region"].(string),
		Credentials:  credentials.NewStaticCredentialsProvider(creds["AccessKeyId"].(string), creds["SecretAccessKey"].(string), ""),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   awshttp.NewBuildableClient(),
	})
	queueURL := creds["QueueURL"].(string)
	body := "hello from " + creds["AccessKeyId"].(string)
	if _, err := app.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body)}); err != nil {
		t.Fatalf("sending with the binding's credentials: %v", err)
	}
	got, err := app.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), WaitTimeSeconds: 2, MaxNumberOfMessages: 1})
	if err != nil {
		t.Fatalf("receiving with the binding's credentials: %v", err)
	}
	if len(got.Messages) != 1 || aws.ToString(got.Messages[0].Body) != body {
		t.Fatalf("received %+v, want the message sent", got.Messages)
	}
	if _, err := app.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: got.Messages[0].ReceiptHandle}); err != nil {
		t.Errorf("deleting with the binding's credentials: %v", err)
	}
}

// wantQueueUser fails unless the binding's IAM user exists with exactly
// one key, the binding's, and a policy allowing exactly the four queue
// actions on the binding's queue.
func wantQueueUser(t *testing.T, client *iam.Client, creds broker.Credentials) {
	t.Helper()
	user := creds["UserName"].(string)
	keys, err := client.ListAccessKeys(t.Context(), &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatalf("the binding's IAM user %s: %v", user, err)
	}
	if len(keys.AccessKeyMetadata) != 1 || aws.ToString(keys.AccessKeyMetadata[0].AccessKeyId) != creds["AccessKeyId"] {
		t.Errorf("IAM user %s has keys %v, want only %v", user, keys.AccessKeyMetadata, creds["AccessKeyId"])
	}
	want := []statement{{Sid: "Queue", Effect: "Allow", Resource: creds["QueueARN"].(string),
		Action: []string{"sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"}}}
	if diff := cmp.Diff(want, policyOf(t, client, user)); diff != "" {
		t.Errorf("policy of %s (-want +got):\n%s", user, diff)
	}
}

// wantUserGone fails unless the IAM user and its keys are gone.
func wantUserGone(t *testing.T, client *iam.Client, user string) {
	t.Helper()
	var nse *iamtypes.NoSuchEntityException
	if _, err := client.GetUser(t.Context(), &iam.GetUserInput{UserName: aws.String(user)}); !errors.As(err, &nse) {
		t.Errorf("IAM user %s after the unbind: GetUser error %v, want NoSuchEntity", user, err)
	}
	if _, err := client.ListAccessKeys(t.Context(), &iam.ListAccessKeysInput{UserName: aws.String(user)}); !errors.As(err, &nse) {
		t.Errorf("access keys of %s after the unbind: ListAccessKeys error %v, want NoSuchEntity", user, err)
	}
}

// TestWalkthroughOnMoto is the walkthrough end to end against moto:
// catalog, provision an SQS standard queue, bind, use the binding's
// credentials to send and receive a message, rebind, rotate, unbind,
// deprovision.
func TestWalkthroughOnMoto(t *testing.T) {
	endpoint := motoEnv(t)
	p := startProgram(t, "")
	awsCfg := mototest.Config(t, endpoint)
	iamClient := iam.NewFromConfig(awsCfg)

	// The catalog served is the one -print-catalog prints.
	cat := p.catalog(t)
	code, printed, errOut := runOnce(t, []string{"-print-catalog", "-broker-id", "moto-test"}, nil)
	if code != exitOK {
		t.Fatalf("-print-catalog: %d: %s", code, errOut)
	}
	var want catalog.Catalog
	if err := json.Unmarshal([]byte(printed), &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, *cat); diff != "" {
		t.Errorf("GET /v2/catalog differs from -print-catalog (-print +served):\n%s", diff)
	}

	instanceID := p.provision(t, cat, "sqs", "standard", nil)
	sid, pid := planIDs(t, cat, "sqs", "standard")
	inst, err := p.Client.GetInstance(t.Context(), brokertest.GetInstanceRequest{InstanceID: instanceID})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "GET instance", inst, http.StatusOK)
	if inst.Value.ServiceID != sid || inst.Value.PlanID != pid {
		t.Errorf("GET instance = %s/%s, want %s/%s", inst.Value.ServiceID, inst.Value.PlanID, sid, pid)
	}

	first := brokertest.NewUUID()
	creds := p.bound(t, cat, "sqs", "standard", instanceID, first, "")
	wantKeys(t, creds, "QueueURL", "QueueARN", "QueueName", "UserName", "UserARN", "AccessKeyId", "SecretAccessKey", "Region")
	if creds["Region"] != mototest.Region {
		t.Errorf("Region = %v, want %s", creds["Region"], mototest.Region)
	}
	again := p.bind(t, cat, "sqs", "standard", instanceID, first, "")
	wantStatus(t, "identical bind", again, http.StatusOK)
	if diff := cmp.Diff(map[string]any(creds), map[string]any(again.Value.Credentials)); diff != "" {
		t.Errorf("the repeated bind answered other credentials (-first +again):\n%s", diff)
	}
	// The binding's IAM user may do only what its policy says on the
	// queue; the application uses only what the binding returned.
	wantQueueUser(t, iamClient, creds)
	useQueue(t, endpoint, creds)

	// Rotation: a new user and key; the predecessor keeps working until
	// it is unbound.
	second := brokertest.NewUUID()
	rotated := p.bound(t, cat, "sqs", "standard", instanceID, second, first)
	if rotated["UserName"] == creds["UserName"] || rotated["AccessKeyId"] == creds["AccessKeyId"] {
		t.Errorf("the rotated binding has the predecessor's user %v or key", creds["UserName"])
	}
	wantQueueUser(t, iamClient, rotated)
	useQueue(t, endpoint, rotated)
	useQueue(t, endpoint, creds)

	p.unbind(t, cat, "sqs", "standard", instanceID, first)
	wantUserGone(t, iamClient, creds["UserName"].(string))
	wantStatus(t, "repeated unbind", p.unbindOnce(t, cat, "sqs", "standard", instanceID, first), http.StatusGone)
	useQueue(t, endpoint, p.getBinding(t, cat, "sqs", "standard", instanceID, second))
	p.unbind(t, cat, "sqs", "standard", instanceID, second)
	wantUserGone(t, iamClient, rotated["UserName"].(string))

	p.deprovision(t, cat, endpoint, "sqs", "standard", instanceID)

	if code := p.Stop(t); code != exitOK {
		t.Errorf("exit code after SIGTERM-like stop = %d, want 0", code)
	}
	logs := p.Stderr.String()
	for _, secret := range []string{platformPassword, creds["SecretAccessKey"].(string), rotated["SecretAccessKey"].(string)} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds a secret (%d bytes)", len(secret))
		}
	}
}

// TestTemplatesOnMoto creates, binds, unbinds and deletes an instance of
// every plan of the embedded templates through the broker.
func TestTemplatesOnMoto(t *testing.T) {
	endpoint := motoEnv(t)
	p := startProgram(t, "")
	cat := p.catalog(t)
	iamClient := iam.NewFromConfig(mototest.Config(t, endpoint))

	tests := []struct {
		service, plan string
		params        broker.Parameters
		// outputs are the stack outputs the binding must carry; arn is
		// the one the policy names.
		outputs []string
		arn     string
	}{
		{"sqs", "standard", broker.Parameters{"VisibilityTimeout": 60}, []string{"QueueURL", "QueueARN", "QueueName"}, "QueueARN"},
		{"sqs", "fifo", broker.Parameters{"ContentBasedDeduplication": "true"}, []string{"QueueURL", "QueueARN", "QueueName"}, "QueueARN"},
		{"sns", "topic", broker.Parameters{"TopicDisplayName": "alerts"}, []string{"TopicARN", "TopicName"}, "TopicARN"},
		{"s3", "private", nil, []string{"BucketName", "BucketARN", "BucketDomainName"}, "BucketARN"},
		{"dynamodb", "ondemand", broker.Parameters{"HashKeyName": "id"}, []string{"TableName", "TableARN"}, "TableARN"},
	}
	for _, tt := range tests {
		t.Run(tt.service+"/"+tt.plan, func(t *testing.T) {
			instanceID := p.provision(t, cat, tt.service, tt.plan, tt.params)
			bindingID := brokertest.NewUUID()
			creds := p.bound(t, cat, tt.service, tt.plan, instanceID, bindingID, "")
			wantKeys(t, creds, append(tt.outputs, "UserName", "UserARN", "AccessKeyId", "SecretAccessKey", "Region")...)
			if tt.plan == "fifo" && !strings.HasSuffix(creds["QueueName"].(string), ".fifo") {
				t.Errorf("the FIFO queue is named %v", creds["QueueName"])
			}
			user := creds["UserName"].(string)
			stmts := policyOf(t, iamClient, user)
			if len(stmts) == 0 {
				t.Errorf("the policy of %s has no statement", user)
			}
			for _, s := range stmts {
				if s.Resource != creds[tt.arn] && s.Resource != creds[tt.arn].(string)+"/*" && s.Resource != creds[tt.arn].(string)+"/index/*" {
					t.Errorf("policy statement %s names %v, not the instance's %s %v", s.Sid, s.Resource, tt.arn, creds[tt.arn])
				}
			}
			p.unbind(t, cat, tt.service, tt.plan, instanceID, bindingID)
			wantUserGone(t, iamClient, user)
			p.deprovision(t, cat, endpoint, tt.service, tt.plan, instanceID)
		})
	}

	// moto 5.2 answers 500 to an UpdateStack that keeps the previous value
	// of a parameter that took its template default (README.md), so this
	// instance gives every parameter a value.
	t.Run("update", func(t *testing.T) {
		all := broker.Parameters{"VisibilityTimeout": 30, "MessageRetentionPeriod": 345600, "DelaySeconds": 0,
			"MaximumMessageSize": 262144, "ReceiveMessageWaitTimeSeconds": 0}
		instanceID := p.provision(t, cat, "sqs", "standard", all)
		sid, pid := planIDs(t, cat, "sqs", "standard")
		resp, err := p.Client.Update(t.Context(), brokertest.UpdateRequest{InstanceID: instanceID, ServiceID: sid,
			Parameters: broker.Parameters{"VisibilityTimeout": 90}, AcceptsIncomplete: true,
			PreviousValues: &brokertest.PreviousValues{PlanID: pid}})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, "update", resp, http.StatusAccepted)
		lo, err := p.Client.PollLastOperation(t.Context(), instanceID, resp.Value.Operation, pollFast)
		if err != nil || lo.State != broker.Succeeded {
			t.Fatalf("update: %+v, %v", lo, err)
		}
		inst, err := p.Client.GetInstance(t.Context(), brokertest.GetInstanceRequest{InstanceID: instanceID})
		if err != nil {
			t.Fatal(err)
		}
		if v := inst.Value.Parameters["VisibilityTimeout"]; v != json.Number("90") && v != float64(90) {
			t.Errorf("VisibilityTimeout after the update = %v (%T), want 90", v, v)
		}
		p.deprovision(t, cat, endpoint, "sqs", "standard", instanceID)
	})

	t.Run("a required parameter", func(t *testing.T) {
		sid, pid := planIDs(t, cat, "dynamodb", "ondemand")
		resp, err := p.Client.Provision(t.Context(), brokertest.ProvisionRequest{InstanceID: brokertest.NewUUID(), ServiceID: sid, PlanID: pid,
			OrganizationGUID: "org", SpaceGUID: "space", AcceptsIncomplete: true})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, "provision without HashKeyName", resp, http.StatusBadRequest)
	})
}

// TestGracefulShutdownOnMoto stops a broker with an instance and a
// binding, checks that both files open at once (the locks are released
// and the records are there, the key's secret sealed), and restarts on
// them: GET binding and a repeated bind answer the same credentials.
func TestGracefulShutdownOnMoto(t *testing.T) {
	endpoint := motoEnv(t)
	dir := t.TempDir()
	p := startProgram(t, dir)
	cat := p.catalog(t)
	instanceID := p.provision(t, cat, "sqs", "standard", nil)
	bindingID := brokertest.NewUUID()
	first := p.bound(t, cat, "sqs", "standard", instanceID, bindingID, "")

	// A second broker on the same files refuses to start, and starts
	// nothing.
	var stderr syncBuffer
	code := program{Args: []string{"-listen", "127.0.0.1:0", "-region", mototest.Region, "-state", filepath.Join(dir, "state.db")},
		Getenv: envOf(map[string]string{"BROKER_USERS": "a:b"}), Stdout: &stderr, Stderr: &stderr,
		Ready: func(net.Addr) { t.Error("a second broker on the same state file listened") }}.run(t.Context())
	if code != exitFailure || !strings.Contains(stderr.String(), "-state (BROKER_STATE)") {
		t.Errorf("a second broker on the same state file: exit %d, stderr %q; want 1 naming -state", code, stderr.String())
	}

	if code := p.Stop(t); code != exitOK {
		t.Fatalf("exit code = %d, want 0", code)
	}
	db, err := store.OpenBolt(filepath.Join(dir, "state.db"), store.BoltOptions{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("the state file after shutdown: %v", err)
	}
	rec, err := db.Get(t.Context(), instanceID)
	if err != nil || rec.Operation.State != provisioner.Succeeded || rec.Outputs["QueueURL"] == "" {
		t.Errorf("the instance record after shutdown: %+v, %v", rec, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	bdb, err := store.OpenBolt(filepath.Join(dir, "bindings.db"), store.BoltOptions{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("the bindings file after shutdown: %v", err)
	}
	brec, err := bdb.Get(t.Context(), broker.BindingKey(instanceID, bindingID))
	if err != nil || brec.Operation.State != provisioner.Succeeded || len(brec.SealedOutputs) == 0 {
		t.Errorf("the binding record after shutdown: %+v, %v; want a succeeded bind with sealed outputs", brec, err)
	}
	if raw, _ := json.Marshal(brec); strings.Contains(string(raw), first["SecretAccessKey"].(string)) {
		t.Error("the binding record holds the access key's secret in plain text")
	}
	if err := bdb.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "binding.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("binding.key: %v, %v; want mode 0600", fi, err)
	}

	// Restart on the same files, with the same prefix.
	q := startProgram(t, dir, "-stack-prefix", p.Prefix)
	q.Prefix = p.Prefix
	if diff := cmp.Diff(map[string]any(first), map[string]any(q.getBinding(t, cat, "sqs", "standard", instanceID, bindingID))); diff != "" {
		t.Errorf("GET binding after a restart (-before +after):\n%s", diff)
	}
	again := q.bind(t, cat, "sqs", "standard", instanceID, bindingID, "")
	wantStatus(t, "identical bind after a restart", again, http.StatusOK)
	if diff := cmp.Diff(map[string]any(first), map[string]any(again.Value.Credentials)); diff != "" {
		t.Errorf("credentials after a restart (-before +after):\n%s", diff)
	}
	useQueue(t, endpoint, again.Value.Credentials)
	q.unbind(t, cat, "sqs", "standard", instanceID, bindingID)
	q.deprovision(t, cat, endpoint, "sqs", "standard", instanceID)
	if code := q.Stop(t); code != exitOK {
		t.Errorf("exit code = %d, want 0", code)
	}
}

// TestCrossAccountOnMoto: with -allow-target-account, a provision with
// target_account_id puts the instance's stack in that account (the
// broker assumes -target-role-name there, with the external ID), and its
// bindings' users and keys follow; bind, unbind and deprovision reach
// them there and nothing lands in the broker's own account.
func TestCrossAccountOnMoto(t *testing.T) {
	endpoint := motoEnv(t)
	const account, role, externalID = "111111111111", "brokerkit-target", "moto-external-id-7"
	p := startProgram(t, "", "-allow-target-account", "-target-role-name", role, "-target-external-id", externalID)
	cat := p.catalog(t)
	own := mototest.Config(t, endpoint)
	src, err := bkcredentials.New(bkcredentials.Options{Base: own})
	if err != nil {
		t.Fatal(err)
	}
	there, err := src.Config(t.Context(), bkcredentials.Target{AccountID: account, RoleName: role, ExternalID: externalID, Region: mototest.Region})
	if err != nil {
		t.Fatal(err)
	}
	describe := func(cfg aws.Config, stack string) error {
		_, err := cfn.NewFromConfig(cfg).DescribeStacks(t.Context(), &cfn.DescribeStacksInput{StackName: aws.String(stack)})
		return err
	}

	instanceID := p.provision(t, cat, "sqs", "standard", broker.Parameters{"target_account_id": account})
	stack := cloudformation.StackName(p.Prefix, "sqs", instanceID)
	if err := describe(there, stack); err != nil {
		t.Fatalf("the instance's stack in account %s: %v", account, err)
	}
	if err := describe(own, stack); err == nil {
		t.Errorf("the instance's stack %s is in the broker's own account too", stack)
	}
	first := brokertest.NewUUID()
	creds := p.bound(t, cat, "sqs", "standard", instanceID, first, "")
	if arn, _ := creds["QueueARN"].(string); !strings.Contains(arn, ":"+account+":") {
		t.Errorf("QueueARN %q is not in account %s", arn, account)
	}
	user := creds["UserName"].(string)
	wantQueueUser(t, iam.NewFromConfig(there), creds)
	var nse *iamtypes.NoSuchEntityException
	if _, err := iam.NewFromConfig(own).GetUser(t.Context(), &iam.GetUserInput{UserName: aws.String(user)}); !errors.As(err, &nse) {
		t.Errorf("the binding's user %s in the broker's own account: %v, want NoSuchEntity", user, err)
	}
	useQueue(t, endpoint, creds)

	// The binding's stack is in the target account too.
	bid := brokertest.NewUUID()
	second := p.bound(t, cat, "sqs", "standard", instanceID, bid, "")
	if err := describe(there, cloudformation.StackName(p.Prefix+"-bind", "sqs", broker.BindingKey(instanceID, bid))); err != nil {
		t.Errorf("the binding's stack in account %s: %v", account, err)
	}
	p.unbind(t, cat, "sqs", "standard", instanceID, bid)
	wantUserGone(t, iam.NewFromConfig(there), second["UserName"].(string))

	// Unbind the first too, then deprovision: the stack goes from the
	// target account.
	p.unbind(t, cat, "sqs", "standard", instanceID, first)
	wantUserGone(t, iam.NewFromConfig(there), user)
	p.deprovision(t, cat, endpoint, "sqs", "standard", instanceID)
	if err := describe(there, stack); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("the instance's stack in account %s after the deprovision: %v, want \"does not exist\"", account, err)
	}

	// A bad account is a 400 that names the parameter.
	sid, pid := planIDs(t, cat, "sqs", "standard")
	resp, err := p.Client.Provision(t.Context(), brokertest.ProvisionRequest{InstanceID: brokertest.NewUUID(), ServiceID: sid, PlanID: pid,
		OrganizationGUID: "org", SpaceGUID: "space", AcceptsIncomplete: true, Parameters: broker.Parameters{"target_account_id": "12345"}})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "provision into a bad account", resp, http.StatusBadRequest)
	if !strings.Contains(string(resp.Body), "target_account_id") {
		t.Errorf("bad account: %s, want a description naming target_account_id", resp.Body)
	}

	if code := p.Stop(t); code != exitOK {
		t.Errorf("exit code = %d, want 0", code)
	}
	if logs := p.Stderr.String(); strings.Contains(logs, externalID) || strings.Contains(logs, creds["SecretAccessKey"].(string)) {
		t.Error("the log holds the external ID or an access key's secret")
	}
}

// TestOldBindingsFileOnMoto: a bindings.db of the earlier awsbroker (its
// own IAM users) is refused with a message that says what to do, rather
// than forgotten with its users' access.
func TestOldBindingsFileOnMoto(t *testing.T) {
	motoEnv(t)
	dir := t.TempDir()
	old, err := bolt.Open(filepath.Join(dir, "bindings.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("bindings"))
		if err != nil {
			return err
		}
		return b.Put([]byte("b1"), []byte(`{"binding_id":"b1","user_name":"brokerkit-b1"}`))
	}); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	code := program{Args: []string{"-listen", "127.0.0.1:0", "-region", mototest.Region, "-state", filepath.Join(dir, "state.db")},
		Getenv: envOf(map[string]string{"BROKER_USERS": "a:b"}), Stdout: &stderr, Stderr: &stderr,
		Ready: func(net.Addr) { t.Error("the broker listened on an old bindings file") }}.run(t.Context())
	if code != exitFailure || !strings.Contains(stderr.String(), "bindings.db was written by an earlier awsbroker") {
		t.Errorf("exit %d, stderr %q; want 1 explaining the old bindings file", code, stderr.String())
	}
}

// TestTLSOnMoto serves HTTPS with -tls-cert and -tls-key.
func TestTLSOnMoto(t *testing.T) {
	motoEnv(t)
	certFile, keyFile, pool := selfSigned(t)
	p := startProgram(t, "", "-tls-cert", certFile, "-tls-key", keyFile)
	url := strings.Replace(p.URL, "http://", "https://", 1)
	c := brokertest.NewClient(url, brokertest.ClientOptions{Username: platformUser, Password: platformPassword,
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}})
	resp, err := c.Catalog(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "catalog over HTTPS", resp, http.StatusOK)
	// Go's TLS server answers plain HTTP with a 400, never a catalog.
	if plain, err := http.Get(p.URL + "/v2/catalog"); err == nil {
		plain.Body.Close()
		if plain.StatusCode == http.StatusOK {
			t.Error("the HTTPS broker served the catalog over plain HTTP")
		}
	}
}

// TestBadFilesStartNothing: values that only using them can check (TLS
// files, the binding key) exit 2 before the broker listens.
func TestBadFilesStartNothing(t *testing.T) {
	motoEnv(t)
	dir := t.TempDir()
	badKey := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(badKey, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing TLS files", []string{"-tls-cert", filepath.Join(dir, "c.pem"), "-tls-key", filepath.Join(dir, "k.pem")}, "-tls-cert (BROKER_TLS_CERT) and -tls-key (BROKER_TLS_KEY)"},
		{"a binding key that is not one", []string{"-binding-key", badKey}, "-binding-key (BROKER_BINDING_KEY)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr syncBuffer
			args := append([]string{"-listen", "127.0.0.1:0", "-region", mototest.Region, "-state", filepath.Join(t.TempDir(), "state.db")}, tt.args...)
			code := program{Args: args, Getenv: envOf(map[string]string{"BROKER_USERS": "a:b"}), Stdout: &stderr, Stderr: &stderr,
				Ready: func(net.Addr) { t.Error("the broker listened") }}.run(t.Context())
			if code != exitUsage || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want %d naming %s", code, stderr.String(), exitUsage, tt.want)
			}
		})
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "awsbroker test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	var cb, kb bytes.Buffer
	_ = pem.Encode(&cb, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	_ = pem.Encode(&kb, &pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	if err := os.WriteFile(certFile, cb.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, kb.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
