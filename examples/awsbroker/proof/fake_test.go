package proof

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/internal/mototest"
	"github.com/brokerkit/brokerkit/provisioner/provisionertest"
)

// front is the CloudFormation endpoint the broker is given: it logs the
// time of every call that reaches it and passes it to the fake; it can be
// taken away (listener and connections closed) and brought back on the
// same address.
type front struct {
	t    *testing.T
	addr string
	h    http.Handler

	mu    sync.Mutex
	srv   *http.Server
	calls []time.Time
	// actions counts the calls by action.
	actions map[string]int
}

func newFront(t *testing.T, h http.Handler) *front {
	fr := &front{t: t, h: h, actions: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fr.addr = ln.Addr().String()
	fr.serve(ln)
	t.Cleanup(fr.down)
	return fr
}

func (fr *front) URL() string { return "http://" + fr.addr }

func (fr *front) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(fr.handle), ReadHeaderTimeout: 10 * time.Second}
	fr.mu.Lock()
	fr.srv = srv
	fr.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (fr *front) handle(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(b))
	form, _ := url.ParseQuery(string(b))
	fr.mu.Lock()
	fr.calls = append(fr.calls, time.Now())
	fr.actions[form.Get("Action")]++
	fr.mu.Unlock()
	fr.h.ServeHTTP(w, r)
}

// down closes the listener and every connection: the endpoint is gone.
func (fr *front) down() {
	fr.mu.Lock()
	srv := fr.srv
	fr.srv = nil
	fr.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// up listens again on the same address.
func (fr *front) up() {
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", fr.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		fr.t.Errorf("the CloudFormation front cannot listen again on %s: %v", fr.addr, err)
		return
	}
	fr.serve(ln)
}

// times returns the arrival times of every call so far.
func (fr *front) times() []time.Time {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	return append([]time.Time(nil), fr.calls...)
}

// maxOverLimit returns how far the calls exceed a token bucket of rate
// per second and burst: the largest count of calls in a window minus
// what the bucket allows in it (burst + rate × the window's length), with
// slack calls of tolerance for the clock of the front, and that window.
func maxOverLimit(times []time.Time, rate float64, burst int) (excess float64, from time.Time, n int) {
	excess = -1e9
	for i := range times {
		for j := i; j < len(times); j++ {
			count := j - i + 1
			allowed := float64(burst) + rate*times[j].Sub(times[i]).Seconds()
			if e := float64(count) - allowed; e > excess {
				excess, from, n = e, times[i], count
			}
		}
	}
	return excess, from, n
}

// fakeAWS is the AWS the fault, fuzz and security suites run on: the
// scripted fake CloudFormation behind a front, moto for STS and IAM. A
// binding stack's CreateStack makes its user in moto, where the broker
// gives it its key.
type fakeAWS struct {
	f        *provisionertest.CloudFormation
	front    *front
	endpoint string // moto
	iam      *iam.Client
}

// env is the broker's AWS environment for it.
func (a *fakeAWS) env() []string {
	return []string{"AWS_ENDPOINT_URL=" + a.endpoint, "AWS_ENDPOINT_URL_CLOUDFORMATION=" + a.front.URL()}
}

// newFakeAWS starts the fake; script decides each operation (nil: all
// succeed at once) after the binding user is made, fault each call.
func newFakeAWS(t *testing.T, prefix string, script func(op provisionertest.Op) provisionertest.Script, fault func(c provisionertest.Call) *provisionertest.Fault) *fakeAWS {
	t.Helper()
	a := &fakeAWS{endpoint: mototest.Endpoint(t)}
	a.iam = iam.NewFromConfig(mototest.Config(t, a.endpoint))
	a.f = provisionertest.New(provisionertest.Options{
		Fault: fault,
		Script: func(op provisionertest.Op) provisionertest.Script {
			s := provisionertest.Script{}
			if script != nil {
				s = script(op)
			}
			if op.Action != "CreateStack" || s.Fail || s.FinalStatus != "" {
				return s
			}
			if strings.HasPrefix(op.StackName, prefix+"-bind-") {
				name := prefix + "-u-" + brokertest.NewUUID()[:12]
				if _, err := a.iam.CreateUser(context.Background(), &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
					t.Errorf("creating the binding's user in moto: %v", err)
					return provisionertest.Script{Fail: true}
				}
				s.Outputs = map[string]string{"UserName": name, "UserARN": "arn:aws:iam::123456789012:user/" + name, "Region": mototest.Region}
			} else if s.Outputs == nil {
				s.Outputs = map[string]string{"QueueURL": "https://sqs.us-east-1.amazonaws.com/123456789012/q", "QueueARN": "arn:aws:sqs:us-east-1:123456789012:q", "QueueName": "q",
					"TopicARN": "arn:aws:sns:us-east-1:123456789012:t", "TopicName": "t", "BucketName": "b", "BucketARN": "arn:aws:s3:::b", "BucketDomainName": "b.s3.amazonaws.com",
					"TableName": "t", "TableARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t"}
			}
			return s
		},
	})
	a.front = newFront(t, a.f)
	return a
}

// liveStacks returns the fake's stacks that are not deleted, by their
// brokerkit:instance-id tag.
func (a *fakeAWS) liveStacks() map[string][]provisionertest.StackState {
	live := map[string][]provisionertest.StackState{}
	for _, s := range a.f.Stacks() {
		if s.Status != "DELETE_COMPLETE" {
			live[s.Tags["brokerkit:instance-id"]] = append(live[s.Tags["brokerkit:instance-id"]], s)
		}
	}
	return live
}
