package proof

import (
	"context"
	"hash/fnv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/internal/canary"
	"github.com/brokerkit/brokerkit/provisioner/provisionertest"
)

// TestFaults runs the crash suite's workload against the scripted fake
// CloudFormation with faults injected on every kind of call: throttling,
// 500 and 503, answers lost after the call took effect, slow stacks,
// rollbacks of instances and of bindings, and the endpoint going away
// (listener and connections closed) for a while. It checks that no
// operation is lost (each ends, in the state the script gave its stack),
// that none is reported succeeded when its stack failed, that each live
// instance and binding has exactly one stack, and that the calls that
// reached CloudFormation never exceeded the broker's -rate.
func TestFaults(t *testing.T) {
	gate(t)
	n, outage, outageAt := 20, 8*time.Second, 4*time.Second
	if *long {
		n, outage, outageAt = 100, 30*time.Second, 10*time.Second
	}
	const rate = 10.0
	prefix := "flt" + brokertest.NewUUID()[:6]
	jobs := newJobs(n)
	failInstance, failBinding := map[string]bool{}, map[string]bool{}
	for i, j := range jobs {
		if i%5 == 1 {
			failInstance[j.id] = true
		}
		if i%7 == 2 && !failInstance[j.id] {
			failBinding[j.id] = true
		}
	}
	var faultMu sync.Mutex
	faults := map[string]int{}
	count := func(kind string) {
		faultMu.Lock()
		faults[kind]++
		faultMu.Unlock()
	}
	var slow atomic.Int64
	seq := atomic.Int64{}
	script := func(op provisionertest.Op) provisionertest.Script {
		h := hash(op.StackName)
		s := provisionertest.Script{Delay: time.Duration(h%2000) * time.Millisecond, RollbackDelay: time.Second}
		if h%10 == 0 {
			s.Delay = 6 * time.Second
			slow.Add(1)
		}
		if op.Action != "CreateStack" {
			return s
		}
		for id := range failInstance {
			if strings.HasSuffix(op.StackName, id) && !strings.HasPrefix(op.StackName, prefix+"-bind-") {
				s.Fail = true
				s.FailedResources = []provisionertest.ResourceFailure{{LogicalID: "Queue", Type: "AWS::SQS::Queue", Reason: "injected rollback"}}
				count("rollback")
			}
		}
		for id := range failBinding {
			if strings.HasPrefix(op.StackName, prefix+"-bind-") && strings.Contains(op.StackName, id) {
				s.Fail = true
				s.FailedResources = []provisionertest.ResourceFailure{{LogicalID: "User", Type: "AWS::IAM::User", Reason: "injected rollback"}}
				count("rollback")
			}
		}
		return s
	}
	fault := func(c provisionertest.Call) *provisionertest.Fault {
		switch k := seq.Add(1); {
		case k%9 == 0:
			count("throttling")
			return provisionertest.Throttling()
		case k%23 == 0:
			count("500")
			return provisionertest.InternalFailure()
		case k%29 == 0:
			count("503")
			return provisionertest.ServiceUnavailable()
		case k%13 == 0 && c.Action != "DescribeStacks" && c.Action != "DescribeStackEvents":
			count("lost answer")
			f := provisionertest.InternalFailure()
			f.Applied = true
			return f
		}
		return nil
	}
	a := newFakeAWS(t, prefix, script, fault)
	b := newBroker(t, t.TempDir(), a.env(), "-templates", proofTemplates(t), "-stack-prefix", prefix, "-broker-id", "proof-"+prefix,
		"-poll-interval", "200ms", "-rate", "10")
	b.start()
	sid, pid := planIDs(t, catalogOf(t, b), "sqs", "standard")
	p := &platform{b: b, sid: sid, pid: pid, poll: 200 * time.Millisecond,
		params: broker.Parameters{secretParam: canary.Plant(t), "VisibilityTimeout": 40}}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	outageDone := make(chan struct{})
	go func() {
		defer close(outageDone)
		select {
		case <-time.After(outageAt):
		case <-ctx.Done():
			return
		}
		a.front.down()
		count("outage")
		time.Sleep(outage)
		a.front.up()
	}()
	p.run(ctx, jobs, 10)
	<-outageDone
	work := time.Since(start)
	if ctx.Err() != nil {
		t.Fatal("the platform's work did not end within the deadline")
	}
	if work < outageAt+outage {
		t.Errorf("the work ended after %v, before the outage did (%v): the outage hit nothing", work, outageAt+outage)
	}

	checkJobs(t, jobs, true)
	live := a.liveStacks()
	known := map[string]bool{}
	ops := 0
	for _, j := range jobs {
		bkey := j.id + "/" + j.bindingID
		known[j.id], known[bkey] = true, true
		ops += 1 + btoi(j.binding != "") + btoi(j.unbound) + btoi(j.deleted)
		wantProvision, wantBinding := broker.Succeeded, broker.Succeeded
		if failInstance[j.id] {
			wantProvision, wantBinding = broker.Failed, ""
		} else if failBinding[j.id] {
			wantBinding = broker.Failed
		}
		if j.provision != wantProvision {
			t.Errorf("instance %s: provision reported %q, its stack's script says %q", j.id, j.provision, wantProvision)
		}
		if j.binding != wantBinding {
			t.Errorf("binding %s: bind reported %q, its stack's script says %q", j.bindingID, j.binding, wantBinding)
		}
		wantInstance, wantBindingStacks := 1, 0
		if j.deleted {
			wantInstance = 0
		}
		if j.binding == broker.Succeeded && !j.unbound {
			wantBindingStacks = 1
		}
		if got := len(live[j.id]); got != wantInstance {
			t.Errorf("instance %s: %d live stacks, want %d", j.id, got, wantInstance)
		}
		if got := len(live[bkey]); got != wantBindingStacks {
			t.Errorf("binding %s: %d live stacks, want %d", bkey, got, wantBindingStacks)
		}
		for _, s := range append(live[j.id], live[bkey]...) {
			if s.Status != "CREATE_COMPLETE" {
				t.Errorf("stack %s is %s", s.Name, s.Status)
			}
		}
		if user, _ := j.creds["UserName"].(string); user != "" {
			keys, err := a.iam.ListAccessKeys(t.Context(), &iam.ListAccessKeysInput{UserName: aws.String(user)})
			switch {
			case err != nil:
				t.Errorf("binding %s: user %s: %v", bkey, user, err)
			case j.unbound && len(keys.AccessKeyMetadata) != 0:
				t.Errorf("binding %s was unbound; its user still has keys %v", bkey, keys.AccessKeyMetadata)
			case !j.unbound && (len(keys.AccessKeyMetadata) != 1 || aws.ToString(keys.AccessKeyMetadata[0].AccessKeyId) != j.creds["AccessKeyId"]):
				t.Errorf("binding %s: user %s has keys %v, want only %v", bkey, user, keys.AccessKeyMetadata, j.creds["AccessKeyId"])
			}
		}
	}
	for id, stacks := range live {
		if !known[id] {
			t.Errorf("%d live stacks belong to no instance or binding (instance-id tag %q)", len(stacks), id)
		}
	}
	excess, from, inWindow := maxOverLimit(a.front.times(), rate, int(rate))
	if excess > 1 { // one call of slack for the front's own clock
		t.Errorf("%d CloudFormation calls from %v: %.1f more than -rate %g (burst %g) allows", inWindow, from.Sub(start).Round(time.Millisecond), excess, rate, rate)
	}
	b.checkLog(t)
	faultMu.Lock()
	defer faultMu.Unlock()
	total := len(a.front.times())
	refused := strings.Count(b.out.String(), "connection refused")
	if refused == 0 {
		t.Error("the broker's log shows no call refused during the outage: it hit nothing")
	}
	summary(t, "%d instances, %d binds, %d operations, %d CloudFormation calls (%.1f/s, limit %g/s), faults %v, %d slow stacks, endpoint away %v (%d log lines of refused calls), %v",
		n, n, ops, total, float64(total)/work.Seconds(), rate, faults, slow.Load(), outage, refused, work.Round(time.Second))
}

func hash(s string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return h.Sum32()
}
