package proof

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/internal/canary"
	"github.com/brokerkit/brokerkit/internal/mototest"
)

// TestCrash runs the example broker on moto, drives provisions and binds
// (a quarter of them unbound again, an eighth then deprovisioned) while
// killing the process with SIGKILL at random moments and restarting it
// on the same files, then checks in moto itself: one stack per live
// instance and binding, none for deleted ones and none that belongs to
// no instance; every operation ended as it should; every kept binding's
// access key is the only key of its user and works (sts:GetCallerIdentity
// as that key); every unbound binding's user is gone; and the secret
// parameter is in neither file nor log.
//
// moto completes a stack within the CreateStack call, so the kills land
// between and inside the broker's own steps: while a request is being
// recorded, between recording an operation and calling CloudFormation,
// between CreateStack and the record of its stack ID, between a binding's
// stack and its access key (or the key and its sealed record), in the
// middle of an unbind (key deleted, stack not yet), and, for every third
// kill, during the start-up that resumes the operations in flight.
func TestCrash(t *testing.T) {
	gate(t)
	endpoint := mototest.Endpoint(t)
	n, kills := 20, 4
	if *long {
		n, kills = 100, 12
	}
	prefix := "crash" + brokertest.NewUUID()[:6]
	brokerID := "proof-" + prefix
	dir := t.TempDir()
	b := newBroker(t, dir, []string{"AWS_ENDPOINT_URL=" + endpoint},
		"-templates", proofTemplates(t), "-stack-prefix", prefix, "-broker-id", brokerID,
		"-poll-interval", "100ms", "-rate", "20")
	b.start()
	sid, pid := planIDs(t, catalogOf(t, b), "sqs", "standard")
	p := &platform{b: b, sid: sid, pid: pid, poll: 100 * time.Millisecond,
		params: broker.Parameters{secretParam: canary.Plant(t), "VisibilityTimeout": 40}}
	jobs := newJobs(n)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	work := make(chan struct{})
	go func() {
		defer close(work)
		p.run(ctx, jobs, 10)
	}()
	// The killer: random moments while the platform works.
	start := time.Now()
	var done, duringStartup int
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	t.Logf("kill seed: %d", start.UnixNano())
	for i := 0; i < kills; i++ {
		select {
		case <-work:
			i = kills // the work ended first
			continue
		case <-time.After(time.Duration(200+rng.IntN(1500)) * time.Millisecond):
		}
		b.kill()
		done++
		if err := b.startNoWait(); err != nil {
			t.Fatal(err)
		}
		if i%3 == 2 {
			// Kill it again while it starts and resumes.
			time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
			if b.URL() == "" {
				duringStartup++
			}
			b.kill()
			done++
			if err := b.startNoWait(); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.waitServing(time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	<-work
	workTime := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("the platform's work did not end within the deadline")
	}

	// A clean restart on the same files, then the checks.
	b.stop()
	b.start()
	checkJobs(t, jobs, false)
	ops := verifyMoto(t, endpoint, b, p, prefix, brokerID, jobs)
	checkAtRest(t, dir, jobs)
	b.checkLog(t)
	summary(t, "%d instances, %d binds, %d operations, %d requests (%d unanswered), %d kills (%d before it served again), %d starts, %v",
		n, n, ops, p.requests.Load(), p.errors.Load(), done, duringStartup, b.starts, workTime.Round(time.Second))
}

// checkJobs fails t for each job whose operations did not end as the
// platform asked; with mayFail, a provision or bind may have failed.
func checkJobs(t *testing.T, jobs []*job, mayFail bool) {
	t.Helper()
	for _, j := range jobs {
		for _, u := range j.unexpected {
			t.Errorf("instance %s: %s", j.id, u)
		}
		if j.provision == broker.Failed && mayFail {
			if !j.deleted {
				t.Errorf("instance %s: failed provision not deleted by the deprovision", j.id)
			}
			continue
		}
		if j.provision != broker.Succeeded {
			t.Errorf("instance %s: provision ended %q, want succeeded", j.id, j.provision)
			continue
		}
		if j.binding == broker.Failed && mayFail {
			if !j.unbound {
				t.Errorf("binding %s: failed bind not unbound", j.bindingID)
			}
		} else if j.binding != broker.Succeeded {
			t.Errorf("binding %s: bind ended %q, want succeeded", j.bindingID, j.binding)
		} else if j.creds["AccessKeyId"] == nil || j.creds["SecretAccessKey"] == nil {
			t.Errorf("binding %s: credentials without a key", j.bindingID)
		}
		if j.unbind && !j.unbound {
			t.Errorf("binding %s: not unbound", j.bindingID)
		}
		if j.deprovision && !j.deleted {
			t.Errorf("instance %s: not deprovisioned", j.id)
		}
	}
}

// verifyMoto checks the stacks, users and keys in moto against jobs and
// the broker's answers after the last restart; it returns the number of
// operations the jobs ran.
func verifyMoto(t *testing.T, endpoint string, b *brokerProc, p *platform, prefix, brokerID string, jobs []*job) int {
	t.Helper()
	cfg := mototest.Config(t, endpoint)
	live := map[string][]string{} // instance-id tag → live stack names
	pages := cfn.NewDescribeStacksPaginator(cfn.NewFromConfig(cfg), &cfn.DescribeStacksInput{})
	for pages.HasMorePages() {
		out, err := pages.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range out.Stacks {
			if tag(s.Tags, "brokerkit:broker-id") != brokerID && !strings.HasPrefix(aws.ToString(s.StackName), prefix+"-") {
				continue
			}
			if s.StackStatus == cfntypes.StackStatusDeleteComplete {
				continue
			}
			id := tag(s.Tags, "brokerkit:instance-id")
			live[id] = append(live[id], aws.ToString(s.StackName)+" "+string(s.StackStatus))
			if !strings.HasSuffix(string(s.StackStatus), "_COMPLETE") || strings.Contains(string(s.StackStatus), "ROLLBACK") {
				t.Errorf("stack %s is %s", aws.ToString(s.StackName), s.StackStatus)
			}
		}
	}
	known := map[string]bool{}
	ops := 0
	client := iam.NewFromConfig(cfg)
	for _, j := range jobs {
		bkey := j.id + "/" + j.bindingID
		known[j.id], known[bkey] = true, true
		wantInstance, wantBinding := 1, 0
		if j.deleted {
			wantInstance = 0
		}
		if j.binding == broker.Succeeded && !j.unbound {
			wantBinding = 1
		}
		if got := len(live[j.id]); got != wantInstance {
			t.Errorf("instance %s: %d live stacks %v, want %d", j.id, got, live[j.id], wantInstance)
		}
		if got := len(live[bkey]); got != wantBinding {
			t.Errorf("binding %s: %d live stacks %v, want %d", bkey, got, live[bkey], wantBinding)
		}
		ops += 1 + btoi(j.binding != "") + btoi(j.unbound) + btoi(j.deleted)
		user, _ := j.creds["UserName"].(string)
		keyID, _ := j.creds["AccessKeyId"].(string)
		secret, _ := j.creds["SecretAccessKey"].(string)
		switch {
		case user == "":
		case j.unbound:
			var nse *iamtypes.NoSuchEntityException
			if _, err := client.GetUser(t.Context(), &iam.GetUserInput{UserName: aws.String(user)}); !errors.As(err, &nse) {
				t.Errorf("binding %s was unbound, but its user %s: %v", bkey, user, err)
			}
		default:
			keys, err := client.ListAccessKeys(t.Context(), &iam.ListAccessKeysInput{UserName: aws.String(user)})
			if err != nil {
				t.Errorf("binding %s: its user %s: %v", bkey, user, err)
				continue
			}
			if len(keys.AccessKeyMetadata) != 1 || aws.ToString(keys.AccessKeyMetadata[0].AccessKeyId) != keyID ||
				keys.AccessKeyMetadata[0].Status != iamtypes.StatusTypeActive {
				t.Errorf("binding %s: user %s has keys %+v, want only the active key %s", bkey, user, keys.AccessKeyMetadata, keyID)
			}
			who, err := sts.NewFromConfig(aws.Config{Region: mototest.Region, BaseEndpoint: aws.String(endpoint), HTTPClient: awshttp.NewBuildableClient(),
				Credentials: credentials.NewStaticCredentialsProvider(keyID, secret, "")}).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
			if err != nil || !strings.HasSuffix(aws.ToString(who.Arn), "/"+user) {
				t.Errorf("binding %s: sts:GetCallerIdentity as its key: %v, %v; want user %s", bkey, who, err, user)
			}
			// The restarted broker answers the same credentials.
			if g, ok := send(t.Context(), p, func(c *brokertest.Client) (*brokertest.Response[brokertest.Binding], error) {
				return c.GetBinding(t.Context(), brokertest.GetBindingRequest{InstanceID: j.id, BindingID: j.bindingID, ServiceID: p.sid, PlanID: p.pid})
			}); !ok || g.Value.Credentials["AccessKeyId"] != keyID || g.Value.Credentials["SecretAccessKey"] != secret {
				t.Errorf("binding %s: GET binding after the restart: %v", bkey, g)
			}
		}
		if !j.deleted {
			if r, ok := send(t.Context(), p, func(c *brokertest.Client) (*brokertest.Response[brokertest.LastOperation], error) {
				return c.LastOperation(t.Context(), brokertest.LastOperationRequest{InstanceID: j.id, ServiceID: p.sid, PlanID: p.pid})
			}); !ok || r.Value.State != j.provision {
				t.Errorf("instance %s: last_operation after the restart: %v %s, want %q", j.id, r, r.Body, j.provision)
			}
		}
	}
	for id, stacks := range live {
		if !known[id] {
			t.Errorf("live stacks %v belong to no instance or binding (instance-id tag %q)", stacks, id)
		}
	}
	// No binding user left behind: every user under the binding prefix is
	// a kept binding's.
	kept := map[string]bool{}
	for _, j := range jobs {
		if u, _ := j.creds["UserName"].(string); u != "" && !j.unbound {
			kept[u] = true
		}
	}
	users := iam.NewListUsersPaginator(client, &iam.ListUsersInput{})
	for users.HasMorePages() {
		out, err := users.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range out.Users {
			if name := aws.ToString(u.UserName); strings.HasPrefix(name, prefix+"-") && !kept[name] {
				t.Errorf("IAM user %s belongs to no kept binding", name)
			}
		}
	}
	return ops
}

// checkAtRest fails t if the canary or a binding's secret key is in the
// data directory's files in plain text.
func checkAtRest(t *testing.T, dir string, jobs []*job) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.db"))
	if len(files) == 0 {
		t.Fatalf("no state files in %s", dir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), canary.Secret) {
			t.Errorf("%s holds the secret parameter in plain text", filepath.Base(f))
		}
		for _, j := range jobs {
			if s, _ := j.creds["SecretAccessKey"].(string); s != "" && strings.Contains(string(b), s) {
				t.Errorf("%s holds binding %s's secret access key in plain text", filepath.Base(f), j.bindingID)
				break
			}
		}
	}
}

func tag(tags []cfntypes.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
