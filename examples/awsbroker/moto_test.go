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
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/internal/mototest"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/cloudformation"
	"github.com/brokerkit/brokerkit/provisioner/store"
)

// TestMain stops the moto_server the tests below start on first use.
func TestMain(m *testing.M) { mototest.Main(m) }

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
	prog := program{Args: all, Getenv: envOf(map[string]string{"BROKER_USERS": platformUser + ":" + platformPassword}),
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

func (p *proc) bind(t *testing.T, c *catalog.Catalog, service, plan, instanceID, bindingID string) *brokertest.Response[brokertest.BindResponse] {
	t.Helper()
	sid, pid := planIDs(t, c, service, plan)
	resp, err := p.Client.Bind(t.Context(), brokertest.BindRequest{InstanceID: instanceID, BindingID: bindingID, ServiceID: sid, PlanID: pid,
		BindResource: map[string]any{"app_guid": "app"}})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (p *proc) unbind(t *testing.T, c *catalog.Catalog, service, plan, instanceID, bindingID string) *brokertest.Response[brokertest.OperationResponse] {
	t.Helper()
	sid, pid := planIDs(t, c, service, plan)
	resp, err := p.Client.Unbind(t.Context(), brokertest.UnbindRequest{InstanceID: instanceID, BindingID: bindingID, ServiceID: sid, PlanID: pid})
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

// policyOf returns the inline policy of a binding's IAM user, or fails.
func policyOf(t *testing.T, client *iam.Client, user, prefix string) policyDocument {
	t.Helper()
	out, err := client.GetUserPolicy(t.Context(), &iam.GetUserPolicyInput{UserName: aws.String(user), PolicyName: aws.String(policyName(prefix))})
	if err != nil {
		t.Fatalf("reading the policy of IAM user %s: %v", user, err)
	}
	var doc policyDocument
	raw := aws.ToString(out.PolicyDocument)
	if strings.HasPrefix(raw, "%7B") { // IAM answers policies URL-encoded
		var err error
		if raw, err = url.QueryUnescape(raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatalf("policy of IAM user %s: %v: %s", user, err, raw)
	}
	return doc
}

// TestWalkthroughOnMoto is the walkthrough end to end against moto:
// catalog, provision an SQS standard queue, bind, use the binding's
// credentials to send and receive a message, unbind, deprovision.
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

	bindingID := brokertest.NewUUID()
	resp := p.bind(t, cat, "sqs", "standard", instanceID, bindingID)
	wantStatus(t, "bind", resp, http.StatusCreated)
	creds := resp.Value.Credentials
	for _, k := range []string{"QueueURL", "QueueARN", "QueueName", credAccessKeyID, credSecretAccessKey, credRegion} {
		if s, _ := creds[k].(string); s == "" {
			t.Errorf("credential %s is missing or empty (keys: %v)", k, creds)
		}
	}
	if creds[credRegion] != mototest.Region {
		t.Errorf("AWS_REGION = %v, want %s", creds[credRegion], mototest.Region)
	}
	again := p.bind(t, cat, "sqs", "standard", instanceID, bindingID)
	wantStatus(t, "identical bind", again, http.StatusOK)
	if diff := cmp.Diff(map[string]any(creds), map[string]any(again.Value.Credentials)); diff != "" {
		t.Errorf("the repeated bind answered other credentials (-first +again):\n%s", diff)
	}

	// The binding's IAM user may do only what its policy says on the queue.
	user := userName(p.Prefix, bindingID)
	keys, err := iamClient.ListAccessKeys(t.Context(), &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatalf("the binding's IAM user %s: %v", user, err)
	}
	if len(keys.AccessKeyMetadata) != 1 || aws.ToString(keys.AccessKeyMetadata[0].AccessKeyId) != creds[credAccessKeyID] {
		t.Errorf("IAM user %s has keys %v, want only %v", user, keys.AccessKeyMetadata, creds[credAccessKeyID])
	}
	doc := policyOf(t, iamClient, user, p.Prefix)
	if len(doc.Statement) != 1 || !cmp.Equal(doc.Statement[0].Resource, []string{creds["QueueARN"].(string)}) {
		t.Errorf("policy of %s = %+v, want one statement on the queue's ARN", user, doc)
	}

	// The application's side: only what the binding returned.
	app := sqs.NewFromConfig(aws.Config{
		Region:       creds[credRegion].(string),
		Credentials:  credentials.NewStaticCredentialsProvider(creds[credAccessKeyID].(string), creds[credSecretAccessKey].(string), ""),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   awshttp.NewBuildableClient(),
	})
	queueURL := creds["QueueURL"].(string)
	if _, err := app.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String("hello from the binding")}); err != nil {
		t.Fatalf("sending with the binding's credentials: %v", err)
	}
	got, err := app.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), WaitTimeSeconds: 2, MaxNumberOfMessages: 1})
	if err != nil {
		t.Fatalf("receiving with the binding's credentials: %v", err)
	}
	if len(got.Messages) != 1 || aws.ToString(got.Messages[0].Body) != "hello from the binding" {
		t.Fatalf("received %+v, want the message sent", got.Messages)
	}
	if _, err := app.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: got.Messages[0].ReceiptHandle}); err != nil {
		t.Errorf("deleting with the binding's credentials: %v", err)
	}

	wantStatus(t, "unbind", p.unbind(t, cat, "sqs", "standard", instanceID, bindingID), http.StatusOK)
	if _, err := iamClient.GetUser(t.Context(), &iam.GetUserInput{UserName: aws.String(user)}); !noSuchEntity(err) {
		t.Errorf("IAM user %s after the unbind: GetUser error %v, want NoSuchEntity", user, err)
	}
	wantStatus(t, "repeated unbind", p.unbind(t, cat, "sqs", "standard", instanceID, bindingID), http.StatusGone)

	p.deprovision(t, cat, endpoint, "sqs", "standard", instanceID)

	if code := p.Stop(t); code != exitOK {
		t.Errorf("exit code after SIGTERM-like stop = %d, want 0", code)
	}
	logs := p.Stderr.String()
	for _, secret := range []string{platformPassword, creds[credSecretAccessKey].(string)} {
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
			resp := p.bind(t, cat, tt.service, tt.plan, instanceID, bindingID)
			wantStatus(t, "bind", resp, http.StatusCreated)
			creds := resp.Value.Credentials
			for _, k := range append(tt.outputs, credAccessKeyID, credSecretAccessKey, credRegion) {
				if s, _ := creds[k].(string); s == "" {
					t.Errorf("credential %s is missing or empty (keys: %v)", k, creds)
				}
			}
			if tt.plan == "fifo" && !strings.HasSuffix(creds["QueueName"].(string), ".fifo") {
				t.Errorf("the FIFO queue is named %v", creds["QueueName"])
			}
			user := userName(p.Prefix, bindingID)
			doc := policyOf(t, iamClient, user, p.Prefix)
			for _, s := range doc.Statement {
				if !strings.HasPrefix(s.Resource[0], creds[tt.arn].(string)) {
					t.Errorf("policy statement %s names %v, not the instance's %s %v", s.Sid, s.Resource, tt.arn, creds[tt.arn])
				}
			}
			wantStatus(t, "unbind", p.unbind(t, cat, tt.service, tt.plan, instanceID, bindingID), http.StatusOK)
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
// and the records are there), and restarts on them: the binding key
// survives, so a repeated bind answers the same credentials.
func TestGracefulShutdownOnMoto(t *testing.T) {
	endpoint := motoEnv(t)
	dir := t.TempDir()
	p := startProgram(t, dir)
	cat := p.catalog(t)
	instanceID := p.provision(t, cat, "sqs", "standard", nil)
	bindingID := brokertest.NewUUID()
	first := p.bind(t, cat, "sqs", "standard", instanceID, bindingID)
	wantStatus(t, "bind", first, http.StatusCreated)

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
	bs, err := openBindings(filepath.Join(dir, "bindings.db"))
	if err != nil {
		t.Fatalf("the bindings file after shutdown: %v", err)
	}
	if b, err := bs.get(bindingID); err != nil || b == nil || b.State != bindingReady {
		t.Errorf("the binding record after shutdown: %+v, %v", b, err)
	}
	bs.Close()
	if fi, err := os.Stat(filepath.Join(dir, "binding.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("binding.key: %v, %v; want mode 0600", fi, err)
	}

	// Restart on the same files, with the same prefix.
	q := startProgram(t, dir, "-stack-prefix", p.Prefix)
	q.Prefix = p.Prefix
	again := q.bind(t, cat, "sqs", "standard", instanceID, bindingID)
	wantStatus(t, "identical bind after a restart", again, http.StatusOK)
	if diff := cmp.Diff(map[string]any(first.Value.Credentials), map[string]any(again.Value.Credentials)); diff != "" {
		t.Errorf("credentials after a restart (-before +after):\n%s", diff)
	}
	wantStatus(t, "unbind", q.unbind(t, cat, "sqs", "standard", instanceID, bindingID), http.StatusOK)
	q.deprovision(t, cat, endpoint, "sqs", "standard", instanceID)
	if code := q.Stop(t); code != exitOK {
		t.Errorf("exit code = %d, want 0", code)
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
