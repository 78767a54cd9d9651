package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/catalog"
)

// The walkthrough's names (its ServiceInstance and ServiceBinding), and
// the example broker's service and plan.
const (
	instanceID  = "opensource-blog-sqs-demo"
	bindingID   = "os-blog-sqs-binding"
	serviceName = "sqs"
	planName    = "standard"
)

// bindingKeys are the credentials the SQS binding must return: the pod of
// step 8 reads QueueURL and QueueARN, and the demo's "pod" needs the rest
// to reach the queue.
var bindingKeys = []string{"QueueURL", "QueueARN", "QueueName", "UserName", "AccessKeyId", "SecretAccessKey", "Region"}

// walkthrough is the platform's side of the story, over HTTP.
type walkthrough struct {
	p       *printer
	client  *brokertest.Client
	motoURL string
	// aws is the operator's view of the account, to show what the broker
	// did (queues, stacks).
	aws  aws.Config
	poll brokertest.PollOptions

	serviceID, planID string
	// stacksBefore are the live stacks with the broker's prefix before
	// the provision; ours are the ones that appeared.
	stacksBefore map[string]cfntypes.StackStatus
	ours         []string
	// provisioned and bound say what cleanup has to undo after a failure.
	provisioned, bound bool
}

func (w *walkthrough) run(ctx context.Context) error {
	if err := errStep("step 5, the catalog", w.catalog(ctx)); err != nil {
		return err
	}
	if err := errStep("step 6, provision", w.provision(ctx)); err != nil {
		return err
	}
	creds, err := w.bind(ctx)
	if err := errStep("step 7, bind", err); err != nil {
		return err
	}
	if err := errStep("step 8, use the binding", w.use(ctx, creds)); err != nil {
		return err
	}
	if err := errStep("unbind", w.unbind(ctx)); err != nil {
		return err
	}
	return errStep("deprovision", w.deprovision(ctx))
}

// catalog is step 5: svcat get classes, svcat get plans.
func (w *walkthrough) catalog(ctx context.Context) error {
	w.p.section("step 5: the platform reads the broker's catalog (svcat get classes; svcat get plans)")
	resp, err := w.client.Catalog(ctx)
	if err := expect(resp, err, http.StatusOK); err != nil {
		return err
	}
	w.p.say("GET /v2/catalog: %s", status(resp.StatusCode))
	tw := tabwriter.NewWriter(w.p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "   CLASS\tPLAN\tBINDABLE\tDESCRIPTION")
	var svc *catalog.Service
	for i := range resp.Value.Services {
		s := &resp.Value.Services[i]
		if s.Name == serviceName {
			svc = s
		}
		for j := range s.Plans {
			pl := &s.Plans[j]
			fmt.Fprintf(tw, "   %s\t%s\t%t\t%s\n", s.Name, pl.Name, s.IsBindable(pl), oneLine(pl.Description))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if svc == nil {
		return fmt.Errorf("the catalog has no service named %q", serviceName)
	}
	i := slices.IndexFunc(svc.Plans, func(p catalog.Plan) bool { return p.Name == planName })
	if i < 0 {
		return fmt.Errorf("service %q has no plan named %q", serviceName, planName)
	}
	w.serviceID, w.planID = svc.ID, svc.Plans[i].ID
	w.poll.ServiceID, w.poll.PlanID = w.serviceID, w.planID
	w.p.say("class %q is service %s, plan %q is plan %s (IDs found by name, as svcat does)", serviceName, w.serviceID, planName, w.planID)
	return nil
}

// provision is step 6: the ServiceInstance opensource-blog-sqs-demo.
func (w *walkthrough) provision(ctx context.Context) error {
	w.p.section(fmt.Sprintf("step 6: provision ServiceInstance %s (class %s, plan %s)", instanceID, serviceName, planName))
	before, err := w.liveStacks(ctx)
	if err != nil {
		return err
	}
	w.stacksBefore = before
	start := time.Now()
	resp, err := w.client.Provision(ctx, brokertest.ProvisionRequest{
		InstanceID: instanceID, ServiceID: w.serviceID, PlanID: w.planID,
		OrganizationGUID: "brokerkit-demo", SpaceGUID: "default", AcceptsIncomplete: true,
		Context: map[string]any{"platform": "kubernetes", "namespace": "default", "instance_name": instanceID},
	})
	if err := expect(resp, err, http.StatusAccepted, http.StatusCreated); err != nil {
		return err
	}
	w.provisioned = true
	w.p.say("PUT /v2/service_instances/%s?accepts_incomplete=true: %s%s", instanceID, status(resp.StatusCode), opText(resp.Value.Operation))
	if resp.StatusCode == http.StatusAccepted {
		lo, err := w.client.PollLastOperation(ctx, instanceID, resp.Value.Operation, w.poll)
		if err != nil {
			return err
		}
		if lo.State != broker.Succeeded {
			return fmt.Errorf("last_operation: %s: %s", lo.State, lo.Description)
		}
		w.p.say("GET .../last_operation: %s%s, after %s (svcat get instances: Ready)", lo.State, descText(lo.Description), since(start))
	}

	after, err := w.liveStacks(ctx)
	if err != nil {
		return err
	}
	for name := range after {
		if _, old := w.stacksBefore[name]; !old {
			w.ours = append(w.ours, name)
		}
	}
	slices.Sort(w.ours)
	if len(w.ours) == 0 {
		return fmt.Errorf("no CloudFormation stack named %s* appeared on moto", stackPrefix)
	}
	for _, name := range w.ours {
		w.p.say("aws cloudformation describe-stacks: %s %s", name, after[name])
	}
	queues, err := w.queues(ctx)
	if err != nil {
		return err
	}
	w.p.say("aws sqs list-queues: %s", strings.Join(queues, ", "))
	return nil
}

// bind is step 7: the ServiceBinding os-blog-sqs-binding, stored by the
// platform as a Secret.
func (w *walkthrough) bind(ctx context.Context) (broker.Credentials, error) {
	w.p.section(fmt.Sprintf("step 7: bind ServiceBinding %s to %s", bindingID, instanceID))
	resp, err := w.client.Bind(ctx, brokertest.BindRequest{
		InstanceID: instanceID, BindingID: bindingID, ServiceID: w.serviceID, PlanID: w.planID, AcceptsIncomplete: true,
		BindResource: map[string]any{"app_guid": "sqs-demo-app-pod"},
		Context:      map[string]any{"platform": "kubernetes", "namespace": "default"},
	})
	if err := expect(resp, err, http.StatusCreated, http.StatusOK, http.StatusAccepted); err != nil {
		return nil, err
	}
	w.bound = true
	w.p.say("PUT /v2/service_instances/%s/service_bindings/%s: %s%s", instanceID, bindingID, status(resp.StatusCode), opText(resp.Value.Operation))
	creds := resp.Value.Credentials
	if resp.StatusCode == http.StatusAccepted {
		lo, err := w.client.PollBindingLastOperation(ctx, instanceID, bindingID, resp.Value.Operation, w.poll)
		if err != nil {
			return nil, err
		}
		if lo.State != broker.Succeeded {
			return nil, fmt.Errorf("binding last_operation: %s: %s", lo.State, lo.Description)
		}
		w.p.say("GET .../service_bindings/%s/last_operation: %s (the binding's IAM user stack is ready, and its access key made)", bindingID, lo.State)
		got, err := w.client.GetBinding(ctx, brokertest.GetBindingRequest{InstanceID: instanceID, BindingID: bindingID, ServiceID: w.serviceID, PlanID: w.planID})
		if err := expect(got, err, http.StatusOK); err != nil {
			return nil, err
		}
		w.p.say("GET /v2/service_instances/%s/service_bindings/%s: %s", instanceID, bindingID, status(got.StatusCode))
		creds = got.Value.Credentials
	}
	var missing []string
	for _, k := range bindingKeys {
		if s, ok := creds[k].(string); !ok || s == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the binding's credentials lack %s (they have %v)", strings.Join(missing, ", "), creds)
	}
	w.p.say("the platform stores the credentials as this Secret (values shown as <redacted> here; the pod sees the real ones):")
	var manifest strings.Builder
	writeRedactedSecret(&manifest, bindingID, "default", creds)
	for _, line := range strings.Split(strings.TrimRight(manifest.String(), "\n"), "\n") {
		w.p.say("  %s", line)
	}
	w.p.say("the pod of step 8 maps SQS_QUEUE_URL to key QueueURL and SQS_QUEUE_ARN to key QueueARN of Secret %s", bindingID)
	return creds, nil
}

// use is step 8: a pod sends a message to the queue and receives it,
// with nothing but what the binding returned.
func (w *walkthrough) use(ctx context.Context, creds broker.Credentials) error {
	w.p.section("step 8: a pod uses the Secret: send a message to the queue and receive it (aws-sdk-go-v2 SQS client)")
	str := func(k string) string { s, _ := creds[k].(string); return s }
	queueURL := str("QueueURL")
	client := sqs.NewFromConfig(aws.Config{
		Region:      str("Region"),
		Credentials: credentials.NewStaticCredentialsProvider(str("AccessKeyId"), str("SecretAccessKey"), ""),
		// Only the demo needs this: it points the SDK at moto. A pod on
		// AWS sets no endpoint; the SDK derives SQS's from the region.
		BaseEndpoint: aws.String(w.motoURL),
		HTTPClient:   awshttp.NewBuildableClient(),
	})
	body := "hello from " + bindingID + " at " + time.Now().UTC().Format(time.RFC3339Nano)
	sent, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body)})
	if err != nil {
		return fmt.Errorf("SendMessage: %w", err)
	}
	w.p.say("SendMessage to %s (QueueURL from the binding, with its access key): message %s", str("QueueName"), aws.ToString(sent.MessageId))
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		got, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 1, WaitTimeSeconds: 1})
		if err != nil {
			return fmt.Errorf("ReceiveMessage: %w", err)
		}
		if len(got.Messages) == 0 {
			continue
		}
		m := got.Messages[0]
		if aws.ToString(m.Body) != body {
			return fmt.Errorf("ReceiveMessage returned %q, want %q", aws.ToString(m.Body), body)
		}
		w.p.say("ReceiveMessage: %q: the body matches", aws.ToString(m.Body))
		if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
			return fmt.Errorf("DeleteMessage: %w", err)
		}
		w.p.say("DeleteMessage: done")
		return nil
	}
	return errors.New("ReceiveMessage: the message did not arrive within 30s")
}

// unbind deletes the binding: svcat unbind.
func (w *walkthrough) unbind(ctx context.Context) error {
	w.p.section("clean up as the platform does: unbind, then deprovision")
	resp, err := w.client.Unbind(ctx, brokertest.UnbindRequest{InstanceID: instanceID, BindingID: bindingID,
		ServiceID: w.serviceID, PlanID: w.planID, AcceptsIncomplete: true})
	if err := expect(resp, err, http.StatusOK, http.StatusAccepted); err != nil {
		return err
	}
	w.p.say("DELETE /v2/service_instances/%s/service_bindings/%s: %s%s", instanceID, bindingID, status(resp.StatusCode), opText(resp.Value.Operation))
	if resp.StatusCode == http.StatusAccepted {
		lo, err := w.client.PollBindingLastOperation(ctx, instanceID, bindingID, resp.Value.Operation, w.poll)
		if err != nil && !errors.Is(err, brokertest.ErrGone) {
			return err
		}
		if err == nil && lo.State != broker.Succeeded {
			return fmt.Errorf("binding last_operation: %s: %s", lo.State, lo.Description)
		}
		w.p.say("GET .../service_bindings/%s/last_operation: succeeded (the access key, the IAM user and its stack are deleted)", bindingID)
	}
	w.bound = false
	return nil
}

// deprovision deletes the instance and checks that its stack is gone.
func (w *walkthrough) deprovision(ctx context.Context) error {
	start := time.Now()
	resp, err := w.client.Deprovision(ctx, brokertest.DeprovisionRequest{InstanceID: instanceID,
		ServiceID: w.serviceID, PlanID: w.planID, AcceptsIncomplete: true})
	if err := expect(resp, err, http.StatusAccepted, http.StatusOK); err != nil {
		return err
	}
	w.p.say("DELETE /v2/service_instances/%s?accepts_incomplete=true: %s%s", instanceID, status(resp.StatusCode), opText(resp.Value.Operation))
	if resp.StatusCode == http.StatusAccepted {
		lo, err := w.client.PollLastOperation(ctx, instanceID, resp.Value.Operation, w.poll)
		switch {
		case errors.Is(err, brokertest.ErrGone):
			w.p.say("GET .../last_operation: 410 Gone, after %s", since(start))
		case err != nil:
			return err
		case lo.State != broker.Succeeded:
			return fmt.Errorf("last_operation: %s: %s", lo.State, lo.Description)
		default:
			w.p.say("GET .../last_operation: %s%s, after %s", lo.State, descText(lo.Description), since(start))
		}
	}
	w.provisioned = false

	live, err := w.liveStacks(ctx)
	if err != nil {
		return err
	}
	var left []string
	for name := range live {
		if _, old := w.stacksBefore[name]; !old {
			left = append(left, name+" "+string(live[name]))
		}
	}
	if len(left) > 0 {
		slices.Sort(left)
		return fmt.Errorf("stacks still live on moto after the deprovision: %s", strings.Join(left, ", "))
	}
	w.p.say("aws cloudformation describe-stacks: no live stack named %s* left (%s deleted)", stackPrefix, strings.Join(w.ours, ", "))
	queues, err := w.queues(ctx)
	if err != nil {
		return err
	}
	w.p.say("aws sqs list-queues: %s", strings.Join(queues, ", "))
	return nil
}

// cleanup undoes, best effort and without waiting, what a failed run left
// behind. It matters only on a moto server the demo did not start.
func (w *walkthrough) cleanup(ctx context.Context) {
	if !w.bound && !w.provisioned {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if w.bound {
		_, _ = w.client.Unbind(ctx, brokertest.UnbindRequest{InstanceID: instanceID, BindingID: bindingID,
			ServiceID: w.serviceID, PlanID: w.planID, AcceptsIncomplete: true})
	}
	if w.provisioned {
		_, _ = w.client.Deprovision(ctx, brokertest.DeprovisionRequest{InstanceID: instanceID,
			ServiceID: w.serviceID, PlanID: w.planID, AcceptsIncomplete: true})
	}
}

// liveStacks returns the stacks on moto whose names start with the
// broker's prefix and that are not deleted, with their status.
func (w *walkthrough) liveStacks(ctx context.Context) (map[string]cfntypes.StackStatus, error) {
	out := map[string]cfntypes.StackStatus{}
	pages := cfn.NewDescribeStacksPaginator(cfn.NewFromConfig(w.aws), &cfn.DescribeStacksInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("CloudFormation DescribeStacks on moto: %w", err)
		}
		for _, s := range page.Stacks {
			name := aws.ToString(s.StackName)
			if strings.HasPrefix(name, stackPrefix) && s.StackStatus != cfntypes.StackStatusDeleteComplete {
				out[name] = s.StackStatus
			}
		}
	}
	return out, nil
}

// queues lists the queue URLs on moto, or "(none)".
func (w *walkthrough) queues(ctx context.Context) ([]string, error) {
	out, err := sqs.NewFromConfig(w.aws).ListQueues(ctx, &sqs.ListQueuesInput{})
	if err != nil {
		return nil, fmt.Errorf("SQS ListQueues on moto: %w", err)
	}
	if len(out.QueueUrls) == 0 {
		return []string{"(none)"}, nil
	}
	return out.QueueUrls, nil
}

// expect checks a response's status. The error holds the broker's error
// body, never a 2xx body (which may hold credentials).
func expect[T any](resp *brokertest.Response[T], err error, want ...int) error {
	if err != nil {
		return err
	}
	if slices.Contains(want, resp.StatusCode) {
		return nil
	}
	if !resp.OK() {
		return resp.Err()
	}
	return fmt.Errorf("status %s, want one of %v", status(resp.StatusCode), want)
}

func status(code int) string { return fmt.Sprintf("%d %s", code, http.StatusText(code)) }

func opText(op string) string {
	if op == "" {
		return ""
	}
	return fmt.Sprintf(", operation %q", op)
}

func descText(d string) string {
	if d == "" {
		return ""
	}
	return " (" + oneLine(d) + ")"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
