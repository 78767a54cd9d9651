package integration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"golang.org/x/time/rate"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/internal/canary"
	"github.com/brokerkit/brokerkit/internal/mototest"
	"github.com/brokerkit/brokerkit/internal/osbspec"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/cloudformation"
	"github.com/brokerkit/brokerkit/provisioner/store"
)

// TestMain stops the moto_server that the tests against moto start on
// first use (they share one per test binary).
func TestMain(m *testing.M) { mototest.Main(m) }

// testLogger writes warnings into the test's output; in a canary run
// (internal/canary) every record, so that the run can look for the canary
// in all of them.
func testLogger(t testing.TB) *slog.Logger {
	if canary.On() {
		return canary.Logger(t)
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// The catalog's IDs are fixed: a platform stores them, so they never
// change between restarts of the broker.
const (
	sqsServiceID   = "5f0c2a8e-6d1b-4c3e-9a7f-2b8d4e6f1a01"
	standardPlanID = "5f0c2a8e-6d1b-4c3e-9a7f-2b8d4e6f1a11"
	fifoPlanID     = "5f0c2a8e-6d1b-4c3e-9a7f-2b8d4e6f1a12"

	// The platform's organization and space, the same for every instance.
	orgGUID   = "a0b1c2d3-0000-4000-8000-00000000000a"
	spaceGUID = "a0b1c2d3-0000-4000-8000-00000000000b"

	// The platform's credentials for the broker (a test's only).
	brokerUser     = "platform"
	brokerPassword = "integration-test-password"
)

// sqsCatalog is one service, "sqs", with a standard and a FIFO plan. The
// plans' parameter schemas describe the parameters the CloudFormation
// template declares, so the handler rejects what the template would
// reject before any stack is touched.
func sqsCatalog() catalog.Catalog {
	params := catalog.Schema{
		"$schema":              "http://json-schema.org/draft-07/schema#",
		"type":                 "object",
		"additionalProperties": false,
		"properties": map[string]any{
			"VisibilityTimeout": map[string]any{"type": "integer", "minimum": 0, "maximum": 43200, "default": 30,
				"description": "Seconds a received message stays invisible to other consumers."},
			"MessageRetentionPeriod": map[string]any{"type": "integer", "minimum": 60, "maximum": 1209600, "default": 345600,
				"description": "Seconds a message is kept."},
		},
	}
	schemas := &catalog.Schemas{ServiceInstance: &catalog.ServiceInstanceSchemas{
		Create: &catalog.InputParameters{Parameters: params},
		Update: &catalog.InputParameters{Parameters: params},
	}}
	return catalog.Catalog{Services: []catalog.Service{{
		ID: sqsServiceID, Name: "sqs", Description: "Amazon SQS queues, one CloudFormation stack each",
		Tags: []string{"aws", "sqs", "queue"}, InstancesRetrievable: true,
		Plans: []catalog.Plan{
			{ID: standardPlanID, Name: "standard", Description: "An SQS standard queue", Schemas: schemas},
			{ID: fifoPlanID, Name: "fifo", Description: "An SQS FIFO queue", Schemas: schemas},
		},
	}}}
}

// queueTemplate is the CloudFormation template of both plans; %s is
// replaced by the FIFO plan's extra queue properties. Its outputs become
// the instance's outputs in the store.
const queueTemplate = `{
  "AWSTemplateFormatVersion": "2010-09-09",
  "Description": "brokerkit integration example: one SQS queue",
  "Parameters": {
    "VisibilityTimeout": {"Type": "Number", "Default": "30", "MinValue": 0, "MaxValue": 43200},
    "MessageRetentionPeriod": {"Type": "Number", "Default": "345600", "MinValue": 60, "MaxValue": 1209600}
  },
  "Resources": {
    "Queue": {
      "Type": "AWS::SQS::Queue",
      "Properties": {
        "VisibilityTimeout": {"Ref": "VisibilityTimeout"},
        "MessageRetentionPeriod": {"Ref": "MessageRetentionPeriod"}%s
      }
    }
  },
  "Outputs": {
    "QueueURL": {"Value": {"Ref": "Queue"}},
    "QueueARN": {"Value": {"Fn::GetAtt": ["Queue", "Arn"]}}
  }
}`

// fifoProperties make the queue a FIFO queue, whose name must end in
// ".fifo".
const fifoProperties = `,
        "FifoQueue": true,
        "QueueName": {"Fn::Join": ["", [{"Ref": "AWS::StackName"}, ".fifo"]]}`

// sqsTemplates gives each plan its template. The IDs are stable names of
// the bodies: they are stored in each stack's brokerkit:template-id tag.
func sqsTemplates() cloudformation.StaticTemplates {
	declared := map[string]cloudformation.ParameterSpec{
		"VisibilityTimeout":      {Type: "Number"},
		"MessageRetentionPeriod": {Type: "Number"},
	}
	return cloudformation.StaticTemplates{
		standardPlanID: {ID: "sqs-standard-v1", Body: fmt.Sprintf(queueTemplate, ""), Parameters: declared},
		fifoPlanID:     {ID: "sqs-fifo-v1", Body: fmt.Sprintf(queueTemplate, fifoProperties), Parameters: declared},
	}
}

// brokerConfig says where a test broker's parts come from.
type brokerConfig struct {
	// AWS is the configuration of the CloudFormation client: moto's
	// (mototest.Config) or the scripted fake's (provisionertest's Config).
	AWS aws.Config
	// Store keeps the instance records; nil means a new in-memory store.
	// The broker does not close it.
	Store provisioner.Store
	// StackPrefix starts every stack name; "brokerkit" when empty. Tests
	// sharing one moto use their own.
	StackPrefix string
	// PollInterval and MaxPollInterval are the Tracker's; 50ms and 250ms
	// when zero, so that tests finish in seconds where a production broker
	// polls every few seconds.
	PollInterval, MaxPollInterval time.Duration
}

// testBroker is a whole broker and a platform's client for it.
type testBroker struct {
	Catalog *catalog.Index
	Store   provisioner.Store
	Stacks  *cloudformation.Stacks
	Tracker *provisioner.Tracker
	Server  *httptest.Server
	// Client is authenticated as the platform; it checks every response
	// it gets against the OSB openapi.yaml and fails the test on a
	// mismatch.
	Client *brokertest.Client

	t        testing.TB
	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once
}

// startBroker assembles a broker from brokerkit's parts, the way a broker
// author's main function does, and serves it on an httptest server. It is
// stopped when the test ends, or earlier by Stop.
func startBroker(t testing.TB, cfg brokerConfig) *testBroker {
	t.Helper()
	if cfg.Store == nil {
		cfg.Store = store.NewMemory()
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	if cfg.MaxPollInterval == 0 {
		cfg.MaxPollInterval = 250 * time.Millisecond
	}
	log := testLogger(t)
	spec, err := osbspec.Load()
	if err != nil {
		t.Fatal(err)
	}

	// 1. The catalog, validated and indexed once.
	idx, err := catalog.NewIndex(sqsCatalog())
	if err != nil {
		t.Fatal(err)
	}

	// 2. The CloudFormation provisioner. One rate limiter per AWS account
	// and region is shared by every client of that account and region.
	// The retryer is the package's (no retries of quota errors), with
	// short backoffs so that faults cost milliseconds in tests.
	limiter := rate.NewLimiter(200, 50)
	client := cloudformation.NewClient(cfg.AWS, limiter, func(o *cfn.Options) {
		o.Retryer = retry.AddWithMaxBackoffDelay(o.Retryer, 20*time.Millisecond)
	})
	stacks, err := cloudformation.New(cloudformation.Options{
		Client:      client,
		Catalog:     idx,
		Templates:   sqsTemplates(),
		StackPrefix: cfg.StackPrefix,
		BrokerID:    "integration-test-broker",
		Logger:      log,
	})
	if err != nil {
		t.Fatal(err)
	}

	// 3. The Tracker: records every operation in the store before calling
	// CloudFormation, and polls operations in progress in the background.
	tracker, err := provisioner.New(provisioner.Options{
		Store:           cfg.Store,
		Provisioner:     stacks,
		Catalog:         idx,
		Logger:          log,
		PollInterval:    cfg.PollInterval,
		MaxPollInterval: cfg.MaxPollInterval,
		CallTimeout:     5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tracker.Run(ctx) }()

	// 4. The OSB handler: basic auth, every instance operation
	// asynchronous, answered by the Tracker.
	h, err := broker.New(idx, &broker.Tracked{Tracker: tracker}, broker.Options{
		Authenticator: broker.BasicAuth(broker.Credential{Username: brokerUser, Password: brokerPassword}),
		RequireAsync:  broker.ActionProvision | broker.ActionUpdate | broker.ActionDeprovision,
		Logger:        log,
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)

	// 5. The platform's side: a client that checks every answer against
	// the OSB API's openapi.yaml.
	c := brokertest.NewClient(srv.URL, brokertest.ClientOptions{
		Username: brokerUser, Password: brokerPassword,
		OnResponse: func(req *http.Request, resp *http.Response, body []byte) {
			if err := spec.ValidateResponse(req, resp.StatusCode, resp.Header, body); err != nil {
				t.Errorf("the broker's answer breaks openapi.yaml: %v", err)
			}
		},
	})

	b := &testBroker{Catalog: idx, Store: cfg.Store, Stacks: stacks, Tracker: tracker, Server: srv, Client: c,
		t: t, cancel: cancel, done: done}
	t.Cleanup(b.Stop)
	return b
}

// Stop closes the HTTP server (waiting for requests being served) and
// stops the Tracker (waiting for Run to return), as a broker process that
// is shut down. The store stays open. Stop may be called more than once.
func (b *testBroker) Stop() {
	b.stopOnce.Do(func() {
		b.Server.Close()
		b.cancel()
		if err := <-b.done; !errors.Is(err, context.Canceled) {
			b.t.Errorf("Tracker.Run returned %v, want context.Canceled", err)
		}
	})
}

// provisionRequest is a platform's provision of the standard plan with
// accepts_incomplete=true.
func provisionRequest(instanceID string, params broker.Parameters) brokertest.ProvisionRequest {
	return brokertest.ProvisionRequest{
		InstanceID: instanceID, ServiceID: sqsServiceID, PlanID: standardPlanID,
		OrganizationGUID: orgGUID, SpaceGUID: spaceGUID,
		Context:    map[string]any{"platform": "cloudfoundry", "organization_guid": orgGUID, "space_guid": spaceGUID},
		Parameters: params, AcceptsIncomplete: true,
	}
}

// pollOptions poll fast: the Tracker's schedule in these tests is in
// milliseconds, but its Retry-After is in whole seconds.
var pollOptions = brokertest.PollOptions{
	Interval: 20 * time.Millisecond, MaxInterval: 100 * time.Millisecond, Timeout: 15 * time.Second,
	ServiceID: sqsServiceID,
}

// awaitOperation polls last_operation until operation op of the instance
// ends, and fails the test unless it succeeded.
func awaitOperation(t testing.TB, c *brokertest.Client, instanceID, op string) {
	t.Helper()
	lo, err := c.PollLastOperation(t.Context(), instanceID, op, pollOptions)
	if err != nil {
		t.Fatalf("polling instance %s: %v", instanceID, err)
	}
	if lo.State != broker.Succeeded {
		t.Fatalf("instance %s: operation %s ended %q: %s", instanceID, op, lo.State, lo.Description)
	}
}

// expectStatus fails the test unless resp has status want.
func expectStatus[T any](t testing.TB, what string, resp *brokertest.Response[T], err error, want int) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s: status %d, want %d; body %s", what, resp.StatusCode, want, resp.Body)
	}
}

// queueOutputs are the outputs the scripted fake gives a stack, shaped
// like those the template's QueueURL and QueueARN outputs have on AWS.
func queueOutputs(stackName string) map[string]string {
	return map[string]string{
		"QueueURL": "https://sqs.us-east-1.amazonaws.com/123456789012/" + stackName,
		"QueueARN": "arn:aws:sqs:us-east-1:123456789012:" + stackName,
	}
}

// manualClock is a clock for the scripted fake that moves only when told:
// a stack whose operation takes an hour stays in progress until the test
// advances the clock by an hour. It reads real time plus an offset, so
// that event times stay plausible.
type manualClock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now returns the real time plus the offset.
func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}
