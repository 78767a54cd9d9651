package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v4"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/internal/mototest"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/provisionertest"
	"github.com/brokerkit/brokerkit/provisioner/store/dynamodb"
	"github.com/brokerkit/brokerkit/provisioner/store/storetest"
)

// TestStateTableTemplate deploys deploy/state-table.yaml on moto through
// CloudFormation and runs the store contract on the table it creates.
func TestStateTableTemplate(t *testing.T) {
	endpoint := mototest.Endpoint(t)
	cfg := mototest.Config(t, endpoint)
	body, err := os.ReadFile(filepath.Join("deploy", "state-table.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	name := "state-" + randHex(4)
	c := cfn.NewFromConfig(cfg)
	if _, err := c.CreateStack(t.Context(), &cfn.CreateStackInput{StackName: aws.String(name), TemplateBody: aws.String(string(body)),
		Parameters: []cfntypes.Parameter{{ParameterKey: aws.String("TableName"), ParameterValue: aws.String(name)}}}); err != nil {
		t.Fatal(err)
	}
	out, err := c.DescribeStacks(t.Context(), &cfn.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil || len(out.Stacks) != 1 || out.Stacks[0].StackStatus != cfntypes.StackStatusCreateComplete {
		t.Fatalf("the template's stack: %+v, %v; want CREATE_COMPLETE", out, err)
	}
	db := awsdynamodb.NewFromConfig(cfg)
	desc, err := db.DescribeTable(t.Context(), &awsdynamodb.DescribeTableInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(desc.Table.GlobalSecondaryIndexes); n != 2 {
		t.Errorf("the table has %d global secondary indexes, want 2", n)
	}
	// moto's CloudFormation does not apply TimeToLiveSpecification (it
	// reports TTL disabled), so the template's own text is checked.
	var tmpl struct {
		Resources map[string]struct {
			Properties struct {
				TimeToLiveSpecification struct {
					AttributeName string `yaml:"AttributeName"`
					Enabled       bool   `yaml:"Enabled"`
				} `yaml:"TimeToLiveSpecification"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(body, &tmpl); err != nil {
		t.Fatal(err)
	}
	if spec := tmpl.Resources["StateTable"].Properties.TimeToLiveSpecification; spec.AttributeName != "ttl" || !spec.Enabled {
		t.Errorf("the template's TimeToLiveSpecification = %+v, want enabled on attribute ttl", spec)
	}
	if ttl, err := db.DescribeTimeToLive(t.Context(), &awsdynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)}); err == nil && ttl.TimeToLiveDescription != nil {
		t.Logf("moto reports the table's TTL as %s on %q", ttl.TimeToLiveDescription.TimeToLiveStatus, aws.ToString(ttl.TimeToLiveDescription.AttributeName))
	}
	newStore := func(t *testing.T) *dynamodb.Store {
		s, err := dynamodb.New(dynamodb.Options{Client: db, Table: name, Namespace: "t" + randHex(6)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	storetest.Run(t, func(t *testing.T) provisioner.Store { return newStore(t) })
	storetest.RunLeaser(t, func(t *testing.T) provisioner.Leaser { return newStore(t) })
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// cfnCall is one CloudFormation call a replica made.
type cfnCall struct {
	replica int
	action  string
	stack   string // the stack's name
	at      time.Time
}

// cfnLog is the CloudFormation calls of all replicas, each replica
// talking to the one scripted fake through a front of its own.
type cfnLog struct {
	mu    sync.Mutex
	calls []cfnCall
}

func (l *cfnLog) front(t *testing.T, replica int, f http.Handler) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		form, _ := url.ParseQuery(string(b))
		stack := form.Get("StackName")
		if parts := strings.Split(stack, "/"); strings.HasPrefix(stack, "arn:") && len(parts) > 1 {
			stack = parts[1]
		}
		l.mu.Lock()
		l.calls = append(l.calls, cfnCall{replica, form.Get("Action"), stack, time.Now()})
		l.mu.Unlock()
		f.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// polls returns the DescribeStacks calls on stack, by replica.
func (l *cfnLog) polls(stack string) (byReplica map[int]int, calls []cfnCall) {
	l.mu.Lock()
	defer l.mu.Unlock()
	byReplica = map[int]int{}
	for _, c := range l.calls {
		if c.action == "DescribeStacks" && (c.stack == stack || c.stack == "") {
			byReplica[c.replica]++
			calls = append(calls, c)
		}
	}
	return byReplica, calls
}

// replicaProc is one awsbroker process.
type replicaProc struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	client *brokertest.Client
	done   chan struct{}
}

// buildBroker builds this program once per test into t.TempDir().
func buildBroker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "awsbroker")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

const (
	replicaPoll  = time.Second
	replicaLease = 3 * time.Second
	stackDelay   = 5 * time.Second
)

// startReplicas starts n awsbroker processes on one DynamoDB table of
// moto (records and leases), each with its own data directory (bindings)
// and its own front to one scripted fake CloudFormation whose stacks take
// stackDelay to create.
func startReplicas(t *testing.T, bin string, n int) ([]*replicaProc, *provisionertest.CloudFormation, *cfnLog) {
	t.Helper()
	endpoint := mototest.Endpoint(t)
	table := "replicas-" + randHex(4)
	if err := dynamodb.CreateTable(t.Context(), awsdynamodb.NewFromConfig(mototest.Config(t, endpoint)), table); err != nil {
		t.Fatal(err)
	}
	users := iam.NewFromConfig(mototest.Config(t, endpoint))
	f := provisionertest.New(provisionertest.Options{Script: func(op provisionertest.Op) provisionertest.Script {
		switch {
		case op.Action == "CreateStack" && strings.HasPrefix(op.StackName, "rep-bind-"):
			// A binding's stack: its user is made in moto's IAM, where
			// the replicas give it its access key.
			name := "rep-bind-" + randHex(6)
			if _, err := users.CreateUser(context.Background(), &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
				t.Errorf("creating the binding's user in moto: %v", err)
				return provisionertest.Script{Fail: true}
			}
			return provisionertest.Script{Delay: stackDelay, Outputs: map[string]string{"UserName": name, "UserARN": "arn:aws:iam::123456789012:user/" + name, "Region": mototest.Region}}
		case op.Action == "CreateStack":
			return provisionertest.Script{Delay: stackDelay, Outputs: map[string]string{"QueueURL": "https://sqs/q", "QueueARN": "arn:aws:sqs:us-east-1:123456789012:q", "QueueName": "q"}}
		}
		return provisionertest.Script{}
	}})
	log := &cfnLog{}
	shared := t.TempDir()
	key := filepath.Join(shared, "binding.key")
	if err := os.WriteFile(key, []byte(randHex(32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	none := filepath.Join(shared, "none")
	var procs []*replicaProc
	for i := range n {
		addr := freeAddr(t)
		dir := t.TempDir()
		p := &replicaProc{out: &syncBuffer{}, done: make(chan struct{})}
		p.cmd = exec.Command(bin, "-listen", addr, "-region", mototest.Region, "-stack-prefix", "rep", "-broker-id", "replicas",
			"-state", filepath.Join(dir, "state.db"), "-binding-key", key, "-dynamodb-table", table,
			"-poll-interval", replicaPoll.String(), "-lease-duration", replicaLease.String(), "-log-level", "debug")
		p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
			"BROKER_USERS=" + platformUser + ":" + platformPassword,
			"AWS_ENDPOINT_URL=" + endpoint, "AWS_ENDPOINT_URL_CLOUDFORMATION=" + log.front(t, i, f),
			"AWS_ACCESS_KEY_ID=AKIAMOTOTEST", "AWS_SECRET_ACCESS_KEY=motosecret",
			"AWS_CONFIG_FILE=" + none, "AWS_SHARED_CREDENTIALS_FILE=" + none,
			envRecordCalls + "=" + os.Getenv(envRecordCalls)}
		p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = p.cmd.Wait(); close(p.done) }()
		t.Cleanup(func() {
			_ = p.cmd.Process.Signal(os.Interrupt)
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.done
			}
			if t.Failed() {
				t.Logf("replica %d output:\n%s", i, p.out)
			}
		})
		p.client = brokertest.NewClient("http://"+addr, brokertest.ClientOptions{Username: platformUser, Password: platformPassword})
		procs = append(procs, p)
	}
	for i, p := range procs {
		deadline := time.Now().Add(30 * time.Second)
		for {
			if resp, err := p.client.Catalog(t.Context()); err == nil && resp.StatusCode == http.StatusOK {
				break
			}
			select {
			case <-p.done:
				t.Fatalf("replica %d exited:\n%s", i, p.out)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %d did not serve within 30s:\n%s", i, p.out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return procs, f, log
}

// TestReplicas runs two and three awsbroker processes on one DynamoDB
// table (moto) and checks what replicas promise: concurrent PUTs for one
// instance on different replicas create one stack; last_operation
// answers the same everywhere; a replica killed with SIGKILL right after
// it started a provision has it finished by another; no stack is polled
// by two replicas within one poll interval.
func TestReplicas(t *testing.T) {
	mototest.Endpoint(t) // skip (or fail) before building without moto
	bin := buildBroker(t)
	for _, n := range []int{2, 3} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			procs, f, log := startReplicas(t, bin, n)
			resp, err := procs[0].client.Catalog(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			cat := &resp.Value
			sid, pid := planIDs(t, cat, "sqs", "standard")
			req := func(id string) brokertest.ProvisionRequest {
				return brokertest.ProvisionRequest{InstanceID: id, ServiceID: sid, PlanID: pid, OrganizationGUID: "org",
					SpaceGUID: "space", AcceptsIncomplete: true}
			}

			// One instance, a PUT to every replica at once.
			id := brokertest.NewUUID()
			codes := make([]int, n)
			var wg sync.WaitGroup
			for i, p := range procs {
				wg.Go(func() {
					r, err := p.client.Provision(t.Context(), req(id))
					if err != nil {
						t.Errorf("replica %d: %v", i, err)
						return
					}
					codes[i] = r.StatusCode
				})
			}
			wg.Wait()
			for i, c := range codes {
				if c != http.StatusAccepted {
					t.Errorf("replica %d answered the PUT with %d, want 202 (started or joined)", i, c)
				}
			}
			stack := "rep-sqs-" + id
			sameEverywhere(t, procs, id, broker.InProgress)
			waitState(t, procs[n-1].client, id, broker.Succeeded)
			sameEverywhere(t, procs, id, broker.Succeeded)
			if got := countStacks(f, id); got != 1 {
				t.Errorf("%d stacks for instance %s after %d concurrent PUTs, want 1", got, id, n)
			}
			if c := f.Calls()["CreateStack"]; c != 1 {
				t.Errorf("CreateStack called %d times, want 1", c)
			}
			checkNoOverlap(t, log, stack)

			// A binding: bound on one replica, polled on another, fetched
			// on a third (or the first again), unbound on the second.
			bid := brokertest.NewUUID()
			br, err := procs[0].client.Bind(t.Context(), brokertest.BindRequest{InstanceID: id, BindingID: bid, ServiceID: sid, PlanID: pid, AcceptsIncomplete: true})
			if err != nil || br.StatusCode != http.StatusAccepted {
				t.Fatalf("bind on replica 0: %v %v", br, err)
			}
			if lo, err := procs[1].client.PollBindingLastOperation(t.Context(), id, bid, br.Value.Operation, pollFast); err != nil || lo.State != broker.Succeeded {
				t.Fatalf("the bind polled on replica 1: %v %+v", err, lo)
			}
			var creds []broker.Credentials
			for _, p := range []*replicaProc{procs[n-1], procs[1]} {
				got, err := p.client.GetBinding(t.Context(), brokertest.GetBindingRequest{InstanceID: id, BindingID: bid, ServiceID: sid, PlanID: pid})
				if err != nil || got.StatusCode != http.StatusOK {
					t.Fatalf("GET binding: %v %v", got, err)
				}
				creds = append(creds, got.Value.Credentials)
			}
			for _, k := range []string{"QueueURL", "QueueARN", "UserName", "AccessKeyId", "SecretAccessKey"} {
				if s, _ := creds[0][k].(string); s == "" {
					t.Errorf("GET binding on replica %d: no %s in %v", n-1, k, slices.Sorted(maps.Keys(creds[0])))
				}
			}
			if diff := cmp.Diff(map[string]any(creds[0]), map[string]any(creds[1])); diff != "" {
				t.Errorf("GET binding differs between replicas (-last +1):\n%s", diff)
			}
			ur, err := procs[1].client.Unbind(t.Context(), brokertest.UnbindRequest{InstanceID: id, BindingID: bid, ServiceID: sid, PlanID: pid, AcceptsIncomplete: true})
			if err != nil || ur.StatusCode != http.StatusAccepted {
				t.Fatalf("unbind on replica 1: %v %v", ur, err)
			}
			if lo, err := procs[0].client.PollBindingLastOperation(t.Context(), id, bid, ur.Value.Operation, pollFast); err != nil && !errors.Is(err, brokertest.ErrGone) || err == nil && lo.State != broker.Succeeded {
				t.Fatalf("the unbind polled on replica 0: %v %+v", err, lo)
			}
			keys, err := iam.NewFromConfig(mototest.Config(t, mototest.Endpoint(t))).ListAccessKeys(t.Context(), &iam.ListAccessKeysInput{UserName: aws.String(creds[0]["UserName"].(string))})
			if err != nil || len(keys.AccessKeyMetadata) != 0 {
				t.Errorf("the binding's user after the unbind: keys %v, %v; want none", keys, err)
			}

			// A replica dies right after starting a provision.
			killed := brokertest.NewUUID()
			r, err := procs[0].client.Provision(t.Context(), req(killed))
			if err != nil || r.StatusCode != http.StatusAccepted {
				t.Fatalf("provision on replica 0: %v %v", r, err)
			}
			if err := procs[0].cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			<-procs[0].done
			sameEverywhere(t, procs[1:], killed, broker.InProgress)
			waitState(t, procs[1].client, killed, broker.Succeeded)
			sameEverywhere(t, procs[1:], killed, broker.Succeeded)
			byReplica, _ := log.polls("rep-sqs-" + killed)
			if byReplica[0] != 0 {
				t.Errorf("the killed replica polled the stack %d times; the test meant to kill it before its first poll", byReplica[0])
			}
			if countStacks(f, killed) != 1 {
				t.Errorf("%d stacks for the killed replica's instance, want 1", countStacks(f, killed))
			}
			checkNoOverlap(t, log, "rep-sqs-"+killed)
			p1, _ := log.polls(stack)
			p2, _ := log.polls("rep-sqs-" + killed)
			t.Logf("%d replicas: DescribeStacks per replica, concurrent-PUT stack %v, taken-over stack %v", n, p1, p2)
		})
	}
}

func countStacks(f *provisionertest.CloudFormation, instanceID string) int {
	n := 0
	for _, s := range f.Stacks() {
		if strings.HasSuffix(s.Name, instanceID) {
			n++
		}
	}
	return n
}

// checkNoOverlap fails t if two replicas polled stack within one poll
// interval of each other.
func checkNoOverlap(t *testing.T, log *cfnLog, stack string) {
	t.Helper()
	_, calls := log.polls(stack)
	for i := 1; i < len(calls); i++ {
		a, b := calls[i-1], calls[i]
		if a.replica != b.replica && b.at.Sub(a.at) < replicaPoll {
			t.Errorf("stack %s polled by replica %d and replica %d %v apart, within one poll interval (%v)", stack, a.replica, b.replica, b.at.Sub(a.at), replicaPoll)
		}
	}
}

func lastOp(t *testing.T, c *brokertest.Client, id string) brokertest.LastOperation {
	t.Helper()
	r, err := c.LastOperation(t.Context(), brokertest.LastOperationRequest{InstanceID: id})
	if err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("last_operation of %s: %v %v", id, r, err)
	}
	return r.Value
}

// sameEverywhere asks every replica for id's last operation and fails t
// unless all answer want with one description.
func sameEverywhere(t *testing.T, procs []*replicaProc, id string, want broker.State) {
	t.Helper()
	first := lastOp(t, procs[0].client, id)
	for i, p := range procs {
		got := lastOp(t, p.client, id)
		if got.State != want || got.Description != first.Description {
			t.Errorf("replica %d: last_operation %q %q, want %q %q", i, got.State, got.Description, want, first.Description)
		}
	}
}

func waitState(t *testing.T, c *brokertest.Client, id string, want broker.State) {
	t.Helper()
	deadline := time.Now().Add(stackDelay + 4*replicaLease + 10*time.Second)
	for {
		got := lastOp(t, c, id)
		if got.State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("last_operation of %s still %q, want %q", id, got.State, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
