package proof

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/catalog"
)

// The secret parameter the suites' templates add to the SQS service: a
// NoEcho parameter, so a secret by the catalog's schema.
const secretParam = "Token"

// proofTemplates copies the example's templates into a directory and
// gives the SQS template a NoEcho parameter, which every provision sets
// to the canary.
func proofTemplates(t *testing.T) string {
	t.Helper()
	src, dir := filepath.Join("..", "templates"), t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sqs.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "\nParameters:\n", "\nParameters:\n  "+secretParam+":\n    Description: A secret the stack never uses (brokerkit proof).\n    Type: String\n    NoEcho: true\n    Default: \"\"\n", 1)
	if s == string(b) {
		t.Fatal("sqs.yaml has no Parameters section to extend")
	}
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// planIDs returns the IDs of service/plan in c.
func planIDs(t *testing.T, c *catalog.Catalog, service, plan string) (string, string) {
	t.Helper()
	for _, s := range c.Services {
		if s.Name != service {
			continue
		}
		for _, p := range s.Plans {
			if p.Name == plan {
				return s.ID, p.ID
			}
		}
	}
	t.Fatalf("no plan %s/%s in the catalog", service, plan)
	return "", ""
}

func catalogOf(t *testing.T, b *brokerProc) *catalog.Catalog {
	t.Helper()
	r, err := b.client().Catalog(t.Context())
	if err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("catalog: %v %v", r, err)
	}
	return &r.Value
}

// job is one instance's life as the platform drives it.
type job struct {
	id, bindingID string
	// What the platform does after provisioning: bind, then maybe unbind,
	// then maybe deprovision.
	bind, unbind, deprovision bool

	// Results.
	provision, binding broker.State
	creds              broker.Credentials
	unbound, deleted   bool
	// unexpected are answers the spec does not allow here.
	unexpected []string
}

// platform drives jobs against a broker process that may die and come
// back at any moment, as a platform does: it repeats a request until it
// gets an answer, then polls the operation until it ends.
type platform struct {
	b        *brokerProc
	sid, pid string
	params   broker.Parameters
	poll     time.Duration
	// requests counts the requests sent, errors those without an answer.
	requests, errors atomic.Int64
	mu               sync.Mutex
}

// run runs each job on one of workers goroutines and returns when all
// ended or ctx did.
func (p *platform) run(ctx context.Context, jobs []*job, workers int) {
	ch := make(chan *job)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range ch {
				p.life(ctx, j)
			}
		})
	}
	for _, j := range jobs {
		select {
		case ch <- j:
		case <-ctx.Done():
		}
	}
	close(ch)
	wg.Wait()
}

func (p *platform) note(j *job, format string, args ...any) {
	p.mu.Lock()
	j.unexpected = append(j.unexpected, fmt.Sprintf(format, args...))
	p.mu.Unlock()
}

// send repeats do until the broker answers it (a status, not a
// connection error or a 5xx while starting), and returns the status and
// the operation.
func send[T any](ctx context.Context, p *platform, do func(c *brokertest.Client) (*brokertest.Response[T], error)) (*brokertest.Response[T], bool) {
	for ctx.Err() == nil {
		p.requests.Add(1)
		r, err := do(p.b.client())
		if err == nil {
			return r, true
		}
		p.errors.Add(1)
		select {
		case <-ctx.Done():
		case <-time.After(p.poll):
		}
	}
	return nil, false
}

// await polls an operation until it ends: its final state, or gone
// (410).
func (p *platform) await(ctx context.Context, j *job, what string, get func(c *brokertest.Client) (*brokertest.Response[brokertest.LastOperation], error)) (broker.State, bool) {
	for ctx.Err() == nil {
		r, ok := send(ctx, p, get)
		if !ok {
			break
		}
		switch {
		case r.StatusCode == http.StatusGone:
			return "", true
		case r.StatusCode != http.StatusOK:
			p.note(j, "%s last_operation: %d %s", what, r.StatusCode, r.Body)
			return "", false
		case r.Value.State != broker.InProgress:
			return r.Value.State, false
		}
		select {
		case <-ctx.Done():
		case <-time.After(p.poll):
		}
	}
	return "", false
}

func (p *platform) life(ctx context.Context, j *job) {
	pr := brokertest.ProvisionRequest{InstanceID: j.id, ServiceID: p.sid, PlanID: p.pid, OrganizationGUID: "org", SpaceGUID: "space",
		Parameters: p.params, AcceptsIncomplete: true}
	r, ok := send(ctx, p, func(c *brokertest.Client) (*brokertest.Response[brokertest.ProvisionResponse], error) {
		return c.Provision(ctx, pr)
	})
	if !ok {
		return
	}
	switch r.StatusCode {
	case http.StatusAccepted:
		op := r.Value.Operation
		j.provision, _ = p.await(ctx, j, "provision", func(c *brokertest.Client) (*brokertest.Response[brokertest.LastOperation], error) {
			return c.LastOperation(ctx, brokertest.LastOperationRequest{InstanceID: j.id, ServiceID: p.sid, PlanID: p.pid, Operation: op})
		})
	case http.StatusOK, http.StatusCreated:
		j.provision = broker.Succeeded
	default:
		p.note(j, "provision: %d %s", r.StatusCode, r.Body)
		return
	}
	if j.provision == broker.Failed {
		// A failed provision: the platform deletes the instance.
		p.deprovisionJob(ctx, j)
		return
	}
	if j.provision != broker.Succeeded {
		return
	}
	if j.bind {
		p.bindJob(ctx, j)
	}
	if j.unbind && j.binding != "" {
		p.unbindJob(ctx, j)
	}
	if j.deprovision && (!j.bind || j.unbound) {
		p.deprovisionJob(ctx, j)
	}
}

func (p *platform) bindJob(ctx context.Context, j *job) {
	br := brokertest.BindRequest{InstanceID: j.id, BindingID: j.bindingID, ServiceID: p.sid, PlanID: p.pid, AcceptsIncomplete: true}
	r, ok := send(ctx, p, func(c *brokertest.Client) (*brokertest.Response[brokertest.BindResponse], error) {
		return c.Bind(ctx, br)
	})
	if !ok {
		return
	}
	switch r.StatusCode {
	case http.StatusAccepted:
		op := r.Value.Operation
		j.binding, _ = p.await(ctx, j, "bind", func(c *brokertest.Client) (*brokertest.Response[brokertest.LastOperation], error) {
			return c.BindingLastOperation(ctx, brokertest.BindingLastOperationRequest{InstanceID: j.id, BindingID: j.bindingID, ServiceID: p.sid, PlanID: p.pid, Operation: op})
		})
	case http.StatusOK, http.StatusCreated:
		j.binding = broker.Succeeded
	default:
		p.note(j, "bind: %d %s", r.StatusCode, r.Body)
		return
	}
	switch j.binding {
	case broker.Succeeded:
		g, ok := send(ctx, p, func(c *brokertest.Client) (*brokertest.Response[brokertest.Binding], error) {
			return c.GetBinding(ctx, brokertest.GetBindingRequest{InstanceID: j.id, BindingID: j.bindingID, ServiceID: p.sid, PlanID: p.pid})
		})
		if ok && g.StatusCode == http.StatusOK {
			j.creds = g.Value.Credentials
		} else if ok {
			p.note(j, "GET binding: %d %s", g.StatusCode, g.Body)
		}
	case broker.Failed:
		// Orphan mitigation: the platform unbinds a failed binding.
		p.unbindJob(ctx, j)
	}
}

func (p *platform) unbindJob(ctx context.Context, j *job) {
	ur := brokertest.UnbindRequest{InstanceID: j.id, BindingID: j.bindingID, ServiceID: p.sid, PlanID: p.pid, AcceptsIncomplete: true}
	r, ok := send(ctx, p, func(c *brokertest.Client) (*brokertest.Response[brokertest.OperationResponse], error) {
		return c.Unbind(ctx, ur)
	})
	if !ok {
		return
	}
	switch r.StatusCode {
	case http.StatusAccepted:
		op := r.Value.Operation
		st, gone := p.await(ctx, j, "unbind", func(c *brokertest.Client) (*brokertest.Response[brokertest.LastOperation], error) {
			return c.BindingLastOperation(ctx, brokertest.BindingLastOperationRequest{InstanceID: j.id, BindingID: j.bindingID, ServiceID: p.sid, PlanID: p.pid, Operation: op})
		})
		j.unbound = gone || st == broker.Succeeded
		if !j.unbound {
			p.note(j, "unbind ended %q", st)
		}
	case http.StatusOK, http.StatusGone:
		j.unbound = true
	default:
		p.note(j, "unbind: %d %s", r.StatusCode, r.Body)
	}
}

func (p *platform) deprovisionJob(ctx context.Context, j *job) {
	dr := brokertest.DeprovisionRequest{InstanceID: j.id, ServiceID: p.sid, PlanID: p.pid, AcceptsIncomplete: true}
	r, ok := send(ctx, p, func(c *brokertest.Client) (*brokertest.Response[brokertest.OperationResponse], error) {
		return c.Deprovision(ctx, dr)
	})
	if !ok {
		return
	}
	switch r.StatusCode {
	case http.StatusAccepted:
		op := r.Value.Operation
		st, gone := p.await(ctx, j, "deprovision", func(c *brokertest.Client) (*brokertest.Response[brokertest.LastOperation], error) {
			return c.LastOperation(ctx, brokertest.LastOperationRequest{InstanceID: j.id, ServiceID: p.sid, PlanID: p.pid, Operation: op})
		})
		j.deleted = gone || st == broker.Succeeded
		if !j.deleted {
			p.note(j, "deprovision ended %q", st)
		}
	case http.StatusOK, http.StatusGone:
		j.deleted = true
	default:
		p.note(j, "deprovision: %d %s", r.StatusCode, r.Body)
	}
}

// newJobs makes n jobs: every one binds; every fourth unbinds, and every
// eighth then deprovisions.
func newJobs(n int) []*job {
	jobs := make([]*job, n)
	for i := range jobs {
		jobs[i] = &job{id: brokertest.NewUUID(), bindingID: brokertest.NewUUID(), bind: true, unbind: i%4 == 0, deprovision: i%8 == 0}
	}
	return jobs
}
