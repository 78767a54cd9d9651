package integration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"golang.org/x/time/rate"

	"github.com/brokerkit/brokerkit/binding"
	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/internal/mototest"
	"github.com/brokerkit/brokerkit/internal/osbspec"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/cloudformation"
	"github.com/brokerkit/brokerkit/provisioner/store"
)

// The IDs of the bindable SQS service: a catalog of its own, since
// sqsCatalog's service is not bindable.
const (
	bindServiceID = "7d2e4b6a-1c3f-4e5a-8b7c-9d0e1f2a3b01"
	bindPlanID    = "7d2e4b6a-1c3f-4e5a-8b7c-9d0e1f2a3b11"
)

// bindQueuePolicy is the name of the inline policy of a binding's user.
const bindQueuePolicy = "queue-access"

// bindCatalog is one bindable, bindings_retrievable SQS service whose
// plan allows binding rotation.
func bindCatalog() catalog.Catalog {
	return catalog.Catalog{Services: []catalog.Service{{
		ID: bindServiceID, Name: "sqsbind", Description: "Amazon SQS queues with an IAM user per binding",
		Bindable: true, InstancesRetrievable: true, BindingsRetrievable: true,
		Plans: []catalog.Plan{{ID: bindPlanID, Name: "standard", Description: "An SQS standard queue", BindingRotatable: true}},
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

// startBindBroker assembles a broker as startBroker does, plus a second
// Stacks and Tracker for the bindings: its own store, the binding
// templates and the stack prefix prefix+"-bind".
func startBindBroker(t *testing.T, awsCfg aws.Config, prefix string) *bindBroker {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	spec, err := osbspec.Load()
	if err != nil {
		t.Fatal(err)
	}
	idx, err := catalog.NewIndex(bindCatalog())
	if err != nil {
		t.Fatal(err)
	}
	client := cloudformation.NewClient(awsCfg, rate.NewLimiter(200, 50))
	queueTemplates := cloudformation.StaticTemplates{bindPlanID: {ID: "sqs-standard-v1", Body: fmt.Sprintf(queueTemplate, ""),
		Parameters: map[string]cloudformation.ParameterSpec{"VisibilityTimeout": {Type: "Number"}, "MessageRetentionPeriod": {Type: "Number"}}}}
	bindingTemplates := cloudformation.StaticTemplates{bindPlanID: {ID: "sqs-user-v1", Body: bindingTemplate,
		Parameters: map[string]cloudformation.ParameterSpec{"QueueARN": {Type: "String"}}, Capabilities: []string{"CAPABILITY_IAM"}}}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	tracker := func(prefix string, templates cloudformation.StaticTemplates) *provisioner.Tracker {
		stacks, err := cloudformation.New(cloudformation.Options{Client: client, Catalog: idx, Templates: templates,
			StackPrefix: prefix, BrokerID: "integration-test-broker", Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		st := &bindStartedStore{Store: store.NewMemory(), listed: make(chan struct{})}
		tr, err := provisioner.New(provisioner.Options{Store: st, Provisioner: stacks, Catalog: idx, Logger: log,
			PollInterval: 50 * time.Millisecond, MaxPollInterval: 250 * time.Millisecond, CallTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { _ = tr.Run(ctx) })
		<-st.listed
		return tr
	}
	instances := tracker(prefix, queueTemplates)
	bindings := tracker(prefix+"-bind", bindingTemplates)

	backend := struct {
		*broker.Tracked
		*broker.TrackedBindings
	}{&broker.Tracked{Tracker: instances}, &broker.TrackedBindings{
		Instances: instances, Bindings: bindings,
		// Only the parameters the binding template declares are passed.
		Declared: func(planID string) []string {
			return slices.Sorted(maps.Keys(bindingTemplates[planID].Parameters))
		},
		// The credentials are the outputs as they are, through binding
		// (which validates the keys). An access key created through IAM
		// at bind time would be added here as Extra.
		Credentials: func(ctx context.Context, inst, rec *provisioner.Record) (broker.Credentials, error) {
			c, err := binding.Build(ctx, binding.Merge(inst.Outputs, rec.Outputs), binding.Options{})
			if err != nil {
				return nil, err
			}
			return c.Object(), nil
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
	return &bindBroker{Instances: instances, Bindings: bindings, Client: c}
}

// TestMotoBindings binds, rebinds, rotates and unbinds against moto, and
// looks at each binding's IAM user in moto after every step.
func TestMotoBindings(t *testing.T) {
	t.Parallel()
	endpoint := mototest.Endpoint(t)
	awsCfg := mototest.Config(t, endpoint)
	const prefix = "itbind"
	b := startBindBroker(t, awsCfg, prefix)
	c, ctx := b.Client, t.Context()
	users := iam.NewFromConfig(awsCfg)

	id := brokertest.NewUUID()
	prov, err := c.Provision(ctx, brokertest.ProvisionRequest{InstanceID: id, ServiceID: bindServiceID, PlanID: bindPlanID,
		OrganizationGUID: orgGUID, SpaceGUID: spaceGUID, AcceptsIncomplete: true,
		Parameters: broker.Parameters{"VisibilityTimeout": 30, "MessageRetentionPeriod": 345600}})
	expectStatus(t, "provision", prov, err, http.StatusAccepted)
	awaitOperation(t, c, id, prov.Value.Operation)
	inst, err := b.Instances.Instance(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	queueARN := inst.Outputs["QueueARN"]

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
	// bound binds (202), polls to success and returns the user's name.
	bound := func(req brokertest.BindRequest) string {
		t.Helper()
		resp, err := c.Bind(ctx, req)
		expectStatus(t, "bind "+req.BindingID, resp, err, http.StatusAccepted)
		if resp.Value.Operation == "" {
			t.Fatalf("bind %s: 202 without an operation", req.BindingID)
		}
		lo, err := c.PollBindingLastOperation(ctx, id, req.BindingID, resp.Value.Operation, pollOptions)
		if err != nil || lo.State != broker.Succeeded {
			t.Fatalf("bind %s: %v %q %s", req.BindingID, err, lo.State, lo.Description)
		}
		creds := getBinding(req.BindingID).Value.Credentials
		for _, k := range []string{"QueueURL", "QueueARN", "UserName", "UserARN"} {
			if s, _ := creds[k].(string); s == "" {
				t.Errorf("binding %s: credential %s missing; keys %v", req.BindingID, k, slices.Sorted(maps.Keys(creds)))
			}
		}
		if creds["QueueARN"] != queueARN {
			t.Errorf("binding %s: QueueARN %v, want the instance's %s", req.BindingID, creds["QueueARN"], queueARN)
		}
		name, _ := creds["UserName"].(string)
		checkBindingUser(t, users, name, queueARN)
		return name
	}

	first := brokertest.NewUUID()
	user1 := bound(bind(first, ""))

	// The binding's stack has its own prefix, and a name made valid from
	// the binding key (its "/" removed, a hash appended).
	name := cloudformation.StackName(prefix+"-bind", "sqsbind", broker.BindingKey(id, first))
	if !regexp.MustCompile(`^itbind-bind-sqsbind-[-A-Za-z0-9]+-[0-9a-f]{8}$`).MatchString(name) {
		t.Errorf("binding stack name %q", name)
	}

	// An identical bind of a bound binding is 200 with the credentials.
	again, err := c.Bind(ctx, bind(first, ""))
	expectStatus(t, "identical bind", again, err, http.StatusOK)
	if again.Value.Credentials["UserName"] != user1 {
		t.Errorf("identical bind: UserName %v, want %s", again.Value.Credentials["UserName"], user1)
	}

	// Rotation: a new binding with a new user; the old one keeps working.
	second := brokertest.NewUUID()
	user2 := bound(bind(second, first))
	if user2 == user1 {
		t.Fatalf("the rotated binding has the predecessor's user %s", user1)
	}
	checkBindingUser(t, users, user1, queueARN)

	// Unbind the first: its user is gone, the second's stays.
	un, err := c.Unbind(ctx, brokertest.UnbindRequest{InstanceID: id, BindingID: first, ServiceID: bindServiceID, PlanID: bindPlanID, AcceptsIncomplete: true})
	expectStatus(t, "unbind", un, err, http.StatusAccepted)
	lo, err := c.PollBindingLastOperation(ctx, id, first, un.Value.Operation, pollOptions)
	if err != nil || lo.State != broker.Succeeded {
		t.Fatalf("unbind: %v %q %s", err, lo.State, lo.Description)
	}
	_, err = users.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(user1)})
	if nse := (*iamtypes.NoSuchEntityException)(nil); !errors.As(err, &nse) {
		t.Errorf("GetUser %s after unbind: %v; want NoSuchEntity", user1, err)
	}
	checkBindingUser(t, users, user2, queueARN)
	getBinding(second)

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
