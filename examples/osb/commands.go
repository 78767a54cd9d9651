package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/catalog"
)

// Default organization and space GUIDs of a provision: the OSB API
// requires both, and a repeated provision must send the same ones to be
// recognized as the same request.
const (
	defaultOrg   = "osb-cli"
	defaultSpace = "osb-cli"
)

// target names a service and plan by -service and -plan.
type target struct{ service, plan string }

func (t *target) register(fs *flag.FlagSet) {
	fs.StringVar(&t.service, "service", "", "the instance's service name (default: fetched from the broker)")
	fs.StringVar(&t.plan, "plan", "", "the instance's plan name (default: fetched from the broker)")
}

// opResult is the -o json output of a command that starts an operation.
type opResult struct {
	Status        int                       `json:"status"`
	Response      json.RawMessage           `json:"response,omitempty"`
	LastOperation *brokertest.LastOperation `json:"last_operation,omitempty"`
	// Binding is the binding fetched after an asynchronous bind ended.
	Binding json.RawMessage `json:"binding,omitempty"`
}

func (c *cli) catalog(ctx context.Context, args []string) error {
	fs := c.flags()
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	ctx, cancel, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := c.client.Catalog(ctx)
	if err := answer(resp, err); err != nil {
		return err
	}
	c.cat = &resp.Value
	if c.g.output == "json" {
		return writeJSON(c.stdout, resp.Body)
	}
	t := newTable(c.stdout, "SERVICE", "PLAN", "SERVICE ID", "PLAN ID", "BINDABLE", "DESCRIPTION")
	for i := range resp.Value.Services {
		s := &resp.Value.Services[i]
		for j := range s.Plans {
			p := &s.Plans[j]
			t.row(s.Name, p.Name, s.ID, p.ID, fmt.Sprint(s.IsBindable(p)), p.Description)
		}
	}
	return t.flush()
}

func (c *cli) provision(ctx context.Context, args []string) error {
	fs := c.flags()
	var p paramsFlag
	fs.Var(&p, "p", "a parameter as key=value (repeatable; the value is JSON if it parses as JSON, else a string)")
	paramsJSON := fs.String("params", "", "the parameters as a JSON object (-p pairs are applied over it)")
	contextJSON := fs.String("context", "", "the context object as JSON")
	org := fs.String("org", defaultOrg, "organization_guid to send")
	space := fs.String("space", defaultSpace, "space_guid to send")
	wait := fs.Bool("wait", false, "poll last_operation until the operation ends")
	pos, err := c.parse(fs, args, 3)
	if err != nil {
		return err
	}
	params, err := parameters(*paramsJSON, &p)
	if err != nil {
		return err
	}
	octx, err := jsonObject("context", *contextJSON)
	if err != nil {
		return err
	}
	ctx, cancel, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	id := pos[0]
	svc, plan, err := c.resolve(ctx, pos[1], pos[2])
	if err != nil {
		return err
	}
	resp, err := c.client.Provision(ctx, brokertest.ProvisionRequest{
		InstanceID: id, ServiceID: svc.ID, PlanID: plan.ID, OrganizationGUID: *org, SpaceGUID: *space,
		Context: octx, Parameters: params, AcceptsIncomplete: true,
	})
	if err := answer(resp, err); err != nil {
		return err
	}
	c.say("provision %s (%s/%s): %s%s", id, svc.Name, plan.Name, statusText(resp.StatusCode), operationText(resp.Value.Operation))
	if resp.Value.DashboardURL != "" {
		c.say("dashboard: %s", resp.Value.DashboardURL)
	}
	res := opResult{Status: resp.StatusCode, Response: rawJSON(resp.Body)}
	if resp.StatusCode == http.StatusAccepted {
		if !*wait {
			c.hint(id, "", resp.Value.Operation)
		} else {
			lo, err := c.wait(ctx, id, "", resp.Value.Operation, svc.ID, plan.ID, false)
			if err != nil {
				return err
			}
			res.LastOperation = &lo
		}
	}
	return c.result(res)
}

func (c *cli) update(ctx context.Context, args []string) error {
	fs := c.flags()
	var tg target
	tg.register(fs)
	var p paramsFlag
	fs.Var(&p, "p", "a parameter as key=value (repeatable; the value is JSON if it parses as JSON, else a string)")
	paramsJSON := fs.String("params", "", "the parameters as a JSON object (-p pairs are applied over it)")
	contextJSON := fs.String("context", "", "the context object as JSON")
	wait := fs.Bool("wait", false, "poll last_operation until the operation ends")
	fs.Lookup("plan").Usage = "the plan to change to (default: keep the plan)"
	pos, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	params, err := parameters(*paramsJSON, &p)
	if err != nil {
		return err
	}
	octx, err := jsonObject("context", *contextJSON)
	if err != nil {
		return err
	}
	if tg.plan == "" && params == nil && octx == nil {
		return usagef("nothing to update: give -plan, parameters or -context")
	}
	ctx, cancel, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	id := pos[0]
	var svc *catalog.Service
	var prev string // the instance's plan before the update, when known
	if tg.service == "" {
		sid, pid, err := c.fetchIDs(ctx, id)
		if err != nil {
			return fmt.Errorf("cannot tell the service of instance %q: give -service (%w)", id, err)
		}
		if svc, _, err = c.byID(ctx, sid, ""); err != nil {
			return err
		}
		prev = pid
	} else if svc, err = c.service(ctx, tg.service); err != nil {
		return err
	}
	req := brokertest.UpdateRequest{InstanceID: id, ServiceID: svc.ID, Context: octx, Parameters: params, AcceptsIncomplete: true}
	if tg.plan != "" {
		plan, err := planOf(svc, tg.plan)
		if err != nil {
			return err
		}
		req.PlanID = plan.ID
	}
	if prev != "" {
		req.PreviousValues = &brokertest.PreviousValues{ServiceID: svc.ID, PlanID: prev}
	}
	resp, err := c.client.Update(ctx, req)
	if err := answer(resp, err); err != nil {
		return err
	}
	c.say("update %s: %s%s", id, statusText(resp.StatusCode), operationText(resp.Value.Operation))
	res := opResult{Status: resp.StatusCode, Response: rawJSON(resp.Body)}
	if resp.StatusCode == http.StatusAccepted {
		if !*wait {
			c.hint(id, "", resp.Value.Operation)
		} else {
			// During a plan change the plan hint is the old plan.
			lo, err := c.wait(ctx, id, "", resp.Value.Operation, svc.ID, prev, false)
			if err != nil {
				return err
			}
			res.LastOperation = &lo
		}
	}
	return c.result(res)
}

func (c *cli) deprovision(ctx context.Context, args []string) error {
	fs := c.flags()
	var tg target
	tg.register(fs)
	wait := fs.Bool("wait", false, "poll last_operation until the operation ends")
	pos, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	ctx, cancel, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	id := pos[0]
	sid, pid, err := c.instanceIDs(ctx, id, tg)
	if err != nil {
		return err
	}
	resp, err := c.client.Deprovision(ctx, brokertest.DeprovisionRequest{InstanceID: id, ServiceID: sid, PlanID: pid, AcceptsIncomplete: true})
	if err := answer(resp, err); err != nil {
		return err
	}
	c.say("deprovision %s: %s%s", id, statusText(resp.StatusCode), operationText(resp.Value.Operation))
	res := opResult{Status: resp.StatusCode, Response: rawJSON(resp.Body)}
	if resp.StatusCode == http.StatusAccepted {
		if !*wait {
			c.hint(id, "", resp.Value.Operation)
		} else {
			lo, err := c.wait(ctx, id, "", resp.Value.Operation, sid, pid, true)
			if err != nil {
				return err
			}
			res.LastOperation = &lo
		}
	}
	return c.result(res)
}

func (c *cli) lastOperation(ctx context.Context, args []string) error {
	fs := c.flags()
	var tg target
	tg.register(fs)
	fs.Lookup("service").Usage = "a service name to send as a hint"
	fs.Lookup("plan").Usage = "a plan name to send as a hint (with -service)"
	operation := fs.String("operation", "", "the operation token the broker returned")
	bindingID := fs.String("binding", "", "show the last operation of this binding instead of the instance's")
	pos, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	if tg.plan != "" && tg.service == "" {
		return usagef("-plan needs -service")
	}
	ctx, cancel, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	id := pos[0]
	var sid, pid string
	if tg.service != "" {
		svc, err := c.service(ctx, tg.service)
		if err != nil {
			return err
		}
		sid = svc.ID
		if tg.plan != "" {
			plan, err := planOf(svc, tg.plan)
			if err != nil {
				return err
			}
			pid = plan.ID
		}
	}
	var resp *brokertest.Response[brokertest.LastOperation]
	if *bindingID != "" {
		resp, err = c.client.BindingLastOperation(ctx, brokertest.BindingLastOperationRequest{
			InstanceID: id, BindingID: *bindingID, ServiceID: sid, PlanID: pid, Operation: *operation})
	} else {
		resp, err = c.client.LastOperation(ctx, brokertest.LastOperationRequest{
			InstanceID: id, ServiceID: sid, PlanID: pid, Operation: *operation})
	}
	if err := answer(resp, err); err != nil {
		return err
	}
	if c.g.output == "json" {
		return writeJSON(c.stdout, resp.Body)
	}
	return writeLastOperation(c.stdout, resp.Value)
}

func (c *cli) getInstance(ctx context.Context, args []string) error {
	fs := c.flags()
	var tg target
	tg.register(fs)
	fs.Lookup("service").Usage = "a service name to send as a hint"
	fs.Lookup("plan").Usage = "a plan name to send as a hint (with -service)"
	pos, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	if (tg.service == "") != (tg.plan == "") {
		return usagef("give both -service and -plan, or neither")
	}
	ctx, cancel, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	id := pos[0]
	var sid, pid string
	if tg.service != "" {
		svc, plan, err := c.resolve(ctx, tg.service, tg.plan)
		if err != nil {
			return err
		}
		sid, pid = svc.ID, plan.ID
	}
	resp, err := c.client.GetInstance(ctx, brokertest.GetInstanceRequest{InstanceID: id, ServiceID: sid, PlanID: pid})
	if err := answer(resp, err); err != nil {
		return err
	}
	inst := resp.Value
	// The broker should never return a secret parameter; in case it does,
	// the CLI does not print it.
	svc, plan, _ := c.byID(ctx, inst.ServiceID, inst.PlanID)
	var secret []string
	if plan != nil {
		secret = plan.SecretParameters()
	}
	if c.g.output == "json" {
		return writeJSON(c.stdout, redactInstanceBody(resp.Body, secret))
	}
	svcName, planName := "(not in the catalog)", "(not in the catalog)"
	if svc != nil {
		svcName = svc.Name
	}
	if plan != nil {
		planName = plan.Name
	}
	t := newTable(c.stdout)
	t.row("INSTANCE", id)
	t.row("SERVICE", svcName+" ("+inst.ServiceID+")")
	t.row("PLAN", planName+" ("+inst.PlanID+")")
	if inst.DashboardURL != "" {
		t.row("DASHBOARD", inst.DashboardURL)
	}
	if inst.MaintenanceInfo != nil {
		t.row("MAINTENANCE", inst.MaintenanceInfo.Version)
	}
	if len(inst.Parameters) == 0 {
		t.row("PARAMETERS", "(none)")
	} else {
		t.row("PARAMETERS", "")
		for _, k := range sortedKeys(inst.Parameters) {
			v := "<redacted>"
			if !slices.Contains(secret, k) {
				v = valueText(inst.Parameters[k])
			}
			t.row("  "+k, v)
		}
	}
	return t.flush()
}

// bindFlags are the flags of bind and get-binding that shape the output.
type bindFlags struct{ secretName, namespace string }

func (b *bindFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&b.secretName, "secret-name", "", "the name of the Secret of -o secret (default: the binding ID)")
	fs.StringVar(&b.namespace, "namespace", "", "the namespace of the Secret of -o secret (default: none)")
}

func (c *cli) bind(ctx context.Context, args []string) error {
	fs := c.flags()
	var tg target
	tg.register(fs)
	var bf bindFlags
	bf.register(fs)
	var p paramsFlag
	fs.Var(&p, "p", "a parameter as key=value (repeatable; the value is JSON if it parses as JSON, else a string)")
	paramsJSON := fs.String("params", "", "the parameters as a JSON object (-p pairs are applied over it)")
	appGUID := fs.String("app-guid", "", "the application's GUID, sent as bind_resource.app_guid")
	wait := fs.Bool("wait", false, "poll the binding's last_operation until an asynchronous bind ends, then fetch it")
	pos, err := c.parse(fs, args, 2)
	if err != nil {
		return err
	}
	params, err := parameters(*paramsJSON, &p)
	if err != nil {
		return err
	}
	ctx, cancel, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	id, bid := pos[0], pos[1]
	sid, pid, err := c.instanceIDs(ctx, id, tg)
	if err != nil {
		return err
	}
	req := brokertest.BindRequest{InstanceID: id, BindingID: bid, ServiceID: sid, PlanID: pid, Parameters: params, AcceptsIncomplete: true}
	if *appGUID != "" {
		req.BindResource = map[string]any{"app_guid": *appGUID}
	}
	resp, err := c.client.Bind(ctx, req)
	if err := answer(resp, err); err != nil {
		return err
	}
	c.say("bind %s to %s: %s%s", bid, id, statusText(resp.StatusCode), operationText(resp.Value.Operation))
	res := opResult{Status: resp.StatusCode, Response: rawJSON(resp.Body)}
	binding := resp.Value.Binding
	if resp.StatusCode == http.StatusAccepted {
		if !*wait {
			c.hint(id, bid, resp.Value.Operation)
			if c.g.output == "secret" {
				return &failedError{msg: "the bind is asynchronous and has no credentials yet: use -wait, or get-binding once it has succeeded"}
			}
			return c.result(res)
		}
		lo, err := c.wait(ctx, id, bid, resp.Value.Operation, sid, pid, false)
		if err != nil {
			return err
		}
		res.LastOperation = &lo
		got, err := c.client.GetBinding(ctx, brokertest.GetBindingRequest{InstanceID: id, BindingID: bid, ServiceID: sid, PlanID: pid})
		if err := answer(got, err); err != nil {
			return fmt.Errorf("fetching the binding: %w", err)
		}
		binding, res.Binding = got.Value, rawJSON(got.Body)
	}
	switch c.g.output {
	case "json":
		return c.result(res)
	case "secret":
		return c.writeSecret(bid, bf, binding.Credentials)
	}
	return writeBinding(c.stdout, binding)
}

func (c *cli) getBinding(ctx context.Context, args []string) error {
	fs := c.flags()
	var tg target
	tg.register(fs)
	var bf bindFlags
	bf.register(fs)
	pos, err := c.parse(fs, args, 2)
	if err != nil {
		return err
	}
	ctx, cancel, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	id, bid := pos[0], pos[1]
	sid, pid, err := c.instanceIDs(ctx, id, tg)
	if err != nil {
		return err
	}
	resp, err := c.client.GetBinding(ctx, brokertest.GetBindingRequest{InstanceID: id, BindingID: bid, ServiceID: sid, PlanID: pid})
	if err := answer(resp, err); err != nil {
		return err
	}
	switch c.g.output {
	case "json":
		return writeJSON(c.stdout, resp.Body)
	case "secret":
		return c.writeSecret(bid, bf, resp.Value.Credentials)
	}
	return writeBinding(c.stdout, resp.Value)
}

func (c *cli) unbind(ctx context.Context, args []string) error {
	fs := c.flags()
	var tg target
	tg.register(fs)
	wait := fs.Bool("wait", false, "poll the binding's last_operation until an asynchronous unbind ends")
	pos, err := c.parse(fs, args, 2)
	if err != nil {
		return err
	}
	ctx, cancel, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	id, bid := pos[0], pos[1]
	sid, pid, err := c.instanceIDs(ctx, id, tg)
	if err != nil {
		return err
	}
	resp, err := c.client.Unbind(ctx, brokertest.UnbindRequest{InstanceID: id, BindingID: bid, ServiceID: sid, PlanID: pid, AcceptsIncomplete: true})
	if err := answer(resp, err); err != nil {
		return err
	}
	c.say("unbind %s from %s: %s%s", bid, id, statusText(resp.StatusCode), operationText(resp.Value.Operation))
	res := opResult{Status: resp.StatusCode, Response: rawJSON(resp.Body)}
	if resp.StatusCode == http.StatusAccepted {
		if !*wait {
			c.hint(id, bid, resp.Value.Operation)
		} else {
			lo, err := c.wait(ctx, id, bid, resp.Value.Operation, sid, pid, true)
			if err != nil {
				return err
			}
			res.LastOperation = &lo
		}
	}
	return c.result(res)
}

// --- helpers ---

// answer turns a transport error or a non-2xx answer into an error that
// carries the broker's OSB error body.
func answer[T any](resp *brokertest.Response[T], err error) error {
	if err != nil {
		return err
	}
	if resp.OK() {
		return nil
	}
	msg := resp.Err().Error()
	if body := strings.TrimSpace(string(resp.Body)); body != "" && body != "{}" {
		const max = 4 << 10
		if len(body) > max {
			body = body[:max] + "…"
		}
		msg += "\nbroker's answer: " + body
	}
	return &failedError{msg: msg}
}

// loadCatalog fetches the catalog once.
func (c *cli) loadCatalog(ctx context.Context) (*catalog.Catalog, error) {
	if c.cat != nil {
		return c.cat, nil
	}
	resp, err := c.client.Catalog(ctx)
	if err := answer(resp, err); err != nil {
		return nil, fmt.Errorf("fetching the catalog: %w", err)
	}
	c.cat = &resp.Value
	return c.cat, nil
}

// service finds a service by name, or else by ID.
func (c *cli) service(ctx context.Context, name string) (*catalog.Service, error) {
	cat, err := c.loadCatalog(ctx)
	if err != nil {
		return nil, err
	}
	for _, match := range []func(*catalog.Service) bool{
		func(s *catalog.Service) bool { return s.Name == name },
		func(s *catalog.Service) bool { return s.ID == name },
	} {
		for i := range cat.Services {
			if match(&cat.Services[i]) {
				return &cat.Services[i], nil
			}
		}
	}
	names := make([]string, len(cat.Services))
	for i, s := range cat.Services {
		names[i] = s.Name
	}
	return nil, &failedError{msg: fmt.Sprintf("the catalog has no service %q; it has: %s", name, list(names))}
}

// planOf finds a plan of svc by name, or else by ID.
func planOf(svc *catalog.Service, name string) (*catalog.Plan, error) {
	for _, match := range []func(*catalog.Plan) bool{
		func(p *catalog.Plan) bool { return p.Name == name },
		func(p *catalog.Plan) bool { return p.ID == name },
	} {
		for i := range svc.Plans {
			if match(&svc.Plans[i]) {
				return &svc.Plans[i], nil
			}
		}
	}
	names := make([]string, len(svc.Plans))
	for i, p := range svc.Plans {
		names[i] = p.Name
	}
	return nil, &failedError{msg: fmt.Sprintf("service %q has no plan %q; its plans: %s", svc.Name, name, list(names))}
}

// resolve finds a service and one of its plans by name.
func (c *cli) resolve(ctx context.Context, service, plan string) (*catalog.Service, *catalog.Plan, error) {
	svc, err := c.service(ctx, service)
	if err != nil {
		return nil, nil, err
	}
	p, err := planOf(svc, plan)
	if err != nil {
		return nil, nil, err
	}
	return svc, p, nil
}

// byID finds a service, and a plan if planID is not empty, by ID. Either
// result is nil when the catalog lacks it.
func (c *cli) byID(ctx context.Context, serviceID, planID string) (*catalog.Service, *catalog.Plan, error) {
	cat, err := c.loadCatalog(ctx)
	if err != nil {
		return nil, nil, err
	}
	for i := range cat.Services {
		s := &cat.Services[i]
		if s.ID != serviceID {
			continue
		}
		for j := range s.Plans {
			if s.Plans[j].ID == planID {
				return s, &s.Plans[j], nil
			}
		}
		return s, nil, nil
	}
	return nil, nil, &failedError{msg: fmt.Sprintf("the catalog has no service with ID %q", serviceID)}
}

// fetchIDs fetches an instance to learn its service and plan IDs.
func (c *cli) fetchIDs(ctx context.Context, id string) (serviceID, planID string, err error) {
	resp, err := c.client.GetInstance(ctx, brokertest.GetInstanceRequest{InstanceID: id})
	if err := answer(resp, err); err != nil {
		return "", "", err
	}
	return resp.Value.ServiceID, resp.Value.PlanID, nil
}

// instanceIDs returns the service and plan IDs of an instance: from
// -service and -plan when both are given, else by fetching the instance.
func (c *cli) instanceIDs(ctx context.Context, id string, tg target) (serviceID, planID string, err error) {
	if tg.service != "" && tg.plan != "" {
		svc, plan, err := c.resolve(ctx, tg.service, tg.plan)
		if err != nil {
			return "", "", err
		}
		return svc.ID, plan.ID, nil
	}
	if tg.service != "" || tg.plan != "" {
		return "", "", usagef("give both -service and -plan, or neither")
	}
	sid, pid, err := c.fetchIDs(ctx, id)
	if err != nil {
		return "", "", fmt.Errorf("cannot tell the service and plan of instance %q: give -service and -plan (%w)", id, err)
	}
	return sid, pid, nil
}

// wait polls the last operation of an instance, or of a binding if
// bindingID is not empty, until it ends. For a delete, 410 Gone is
// success. A failed operation is an error.
func (c *cli) wait(ctx context.Context, id, bindingID, operation, serviceID, planID string, deleting bool) (brokertest.LastOperation, error) {
	c.say("waiting for the operation to end (polling last_operation)...")
	opts := brokertest.PollOptions{Interval: c.pollInterval, Timeout: c.g.timeout, ServiceID: serviceID, PlanID: planID}
	var lo brokertest.LastOperation
	var err error
	if bindingID != "" {
		lo, err = c.client.PollBindingLastOperation(ctx, id, bindingID, operation, opts)
	} else {
		lo, err = c.client.PollLastOperation(ctx, id, operation, opts)
	}
	if deleting && errors.Is(err, brokertest.ErrGone) {
		c.say("last_operation: 410 Gone: deleted")
		return brokertest.LastOperation{State: broker.Succeeded, Description: "gone"}, nil
	}
	if err != nil {
		return lo, err
	}
	if lo.State == broker.Failed {
		msg := "the operation failed"
		if lo.Description != "" {
			msg += ": " + lo.Description
		}
		return lo, &failedError{msg: msg}
	}
	c.say("last_operation: %s%s", lo.State, descriptionText(lo.Description))
	return lo, nil
}

// hint tells how to follow an operation that was not waited for.
func (c *cli) hint(id, bindingID, operation string) {
	cmd := "osb last-operation " + id
	if bindingID != "" {
		cmd += " -binding " + bindingID
	}
	if operation != "" {
		cmd += " -operation " + operation
	}
	c.say("the operation runs in the background; follow it with: %s (or pass -wait)", cmd)
}

// result writes the -o json document of a command that started an
// operation; table output has been written as progress lines already.
func (c *cli) result(res opResult) error {
	if c.g.output != "json" {
		return nil
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	return writeJSON(c.stdout, b)
}

func (c *cli) writeSecret(bindingID string, bf bindFlags, creds broker.Credentials) error {
	name := bf.secretName
	if name == "" {
		name = bindingID
	}
	for _, k := range sortedKeys(creds) {
		if !validSecretKey(k) {
			fmt.Fprintf(c.stderr, "osb: warning: credential key %q is not a valid Kubernetes Secret key\n", k)
		}
	}
	return writeSecret(c.stdout, name, bf.namespace, creds)
}
