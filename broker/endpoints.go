package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/brokerkit/brokerkit/catalog"
)

func (h *Handler) catalog(*http.Request, *Meta) result {
	return result{status: http.StatusOK, raw: h.catalogBody}
}

// Request bodies. Unknown fields are ignored, as the spec requires.
type (
	maintenanceInfoBody struct {
		Version string `json:"version"`
	}
	provisionBody struct {
		ServiceID        string               `json:"service_id"`
		PlanID           string               `json:"plan_id"`
		OrganizationGUID string               `json:"organization_guid"`
		SpaceGUID        string               `json:"space_guid"`
		Context          json.RawMessage      `json:"context"`
		Parameters       json.RawMessage      `json:"parameters"`
		MaintenanceInfo  *maintenanceInfoBody `json:"maintenance_info"`
	}
	updateBody struct {
		ServiceID       string               `json:"service_id"`
		PlanID          *string              `json:"plan_id"`
		Context         json.RawMessage      `json:"context"`
		Parameters      json.RawMessage      `json:"parameters"`
		MaintenanceInfo *maintenanceInfoBody `json:"maintenance_info"`
		PreviousValues  *struct {
			PlanID          string               `json:"plan_id"`
			ServiceID       string               `json:"service_id"`
			OrganizationID  string               `json:"organization_id"`
			SpaceID         string               `json:"space_id"`
			MaintenanceInfo *maintenanceInfoBody `json:"maintenance_info"`
		} `json:"previous_values"`
	}
	bindBody struct {
		ServiceID            string          `json:"service_id"`
		PlanID               string          `json:"plan_id"`
		AppGUID              *string         `json:"app_guid"`
		BindResource         json.RawMessage `json:"bind_resource"`
		Context              json.RawMessage `json:"context"`
		Parameters           json.RawMessage `json:"parameters"`
		PredecessorBindingID *string         `json:"predecessor_binding_id"`
	}
)

// Response bodies.
type (
	instanceBody struct {
		Operation    string            `json:"operation,omitempty"`
		DashboardURL string            `json:"dashboard_url,omitempty"`
		Metadata     *InstanceMetadata `json:"metadata,omitempty"`
	}
	operationBody struct {
		Operation string `json:"operation,omitempty"`
	}
	fetchedInstanceBody struct {
		ServiceID       string                   `json:"service_id"`
		PlanID          string                   `json:"plan_id"`
		DashboardURL    string                   `json:"dashboard_url,omitempty"`
		Parameters      map[string]any           `json:"parameters,omitempty"`
		MaintenanceInfo *catalog.MaintenanceInfo `json:"maintenance_info,omitempty"`
		Metadata        *InstanceMetadata        `json:"metadata,omitempty"`
	}
	lastOperationBody struct {
		State            State  `json:"state"`
		Description      string `json:"description,omitempty"`
		InstanceUsable   *bool  `json:"instance_usable,omitempty"`
		UpdateRepeatable *bool  `json:"update_repeatable,omitempty"`
	}
	bindingMetadataBody struct {
		ExpiresAt   string `json:"expires_at,omitempty"`
		RenewBefore string `json:"renew_before,omitempty"`
	}
	bindingBody struct {
		Metadata        *bindingMetadataBody `json:"metadata,omitempty"`
		Credentials     map[string]any       `json:"credentials,omitempty"`
		SyslogDrainURL  string               `json:"syslog_drain_url,omitempty"`
		RouteServiceURL string               `json:"route_service_url,omitempty"`
		VolumeMounts    []VolumeMount        `json:"volume_mounts,omitempty"`
		Endpoints       []Endpoint           `json:"endpoints,omitempty"`
		Parameters      map[string]any       `json:"parameters,omitempty"`
	}
)

func (h *Handler) provision(r *http.Request, m *Meta) result {
	res := result{instanceID: r.PathValue("instance_id")}
	async, err := acceptsIncomplete(r)
	if err != nil {
		return res.fail(err)
	}
	var body provisionBody
	if err := h.decodeBody(r, &body); err != nil {
		return res.fail(err)
	}
	if err := required("service_id", body.ServiceID, "plan_id", body.PlanID,
		"organization_guid", body.OrganizationGUID, "space_guid", body.SpaceGUID); err != nil {
		return res.fail(err)
	}
	svc, plan, err := h.lookup(body.ServiceID, body.PlanID)
	if err != nil {
		return res.fail(err)
	}
	ctx, err := decodeObject[Context]("context", body.Context)
	if err != nil {
		return res.fail(err)
	}
	params, err := h.parameters(plan.ID, catalog.InstanceCreate, body.Parameters)
	if err != nil {
		return res.fail(err)
	}
	if err := h.requireAsync(ActionProvision, async); err != nil {
		return res.fail(err)
	}
	mi, err := checkMaintenanceInfo(body.MaintenanceInfo, plan)
	if err != nil {
		return res.fail(err)
	}
	req := &ProvisionRequest{Meta: *m, InstanceID: res.instanceID, Service: svc, Plan: plan,
		OrganizationGUID: body.OrganizationGUID, SpaceGUID: body.SpaceGUID, Context: ctx,
		Parameters: params, MaintenanceInfo: mi, AcceptsIncomplete: async}
	resp, err := h.backend.Provision(r.Context(), req)
	if err != nil {
		return res.fail(err)
	}
	status, op, err := outcome(resp.Outcome, resp.Operation, async, http.StatusCreated)
	if err != nil {
		return res.fail(fmt.Errorf("broker: Provision of %s: %w", res.instanceID, err))
	}
	return res.ok(status, instanceBody{Operation: op,
		DashboardURL: resp.DashboardURL, Metadata: resp.Metadata})
}

func (h *Handler) update(r *http.Request, m *Meta) result {
	res := result{instanceID: r.PathValue("instance_id")}
	async, err := acceptsIncomplete(r)
	if err != nil {
		return res.fail(err)
	}
	var body updateBody
	if err := h.decodeBody(r, &body); err != nil {
		return res.fail(err)
	}
	if err := required("service_id", body.ServiceID); err != nil {
		return res.fail(err)
	}
	svc, ok := h.index.Service(body.ServiceID)
	if !ok {
		return res.fail(badRequest("Unknown service_id: the catalog has no Service Offering with this ID."))
	}
	var plan *catalog.Plan
	if body.PlanID != nil {
		if _, plan, err = h.lookup(body.ServiceID, *body.PlanID); err != nil {
			return res.fail(err)
		}
	}
	var prev PreviousValues
	if pv := body.PreviousValues; pv != nil {
		prev = PreviousValues{PlanID: pv.PlanID, ServiceID: pv.ServiceID, OrganizationID: pv.OrganizationID, SpaceID: pv.SpaceID}
		if pv.MaintenanceInfo != nil {
			prev.MaintenanceInfo = &catalog.MaintenanceInfo{Version: pv.MaintenanceInfo.Version}
		}
	}
	// The plan the instance will have: the new one, else the current one
	// as the platform knows it.
	target := plan
	var current *catalog.Plan
	if prev.PlanID != "" {
		if s, p, ok := h.index.Plan(prev.PlanID); ok && s.ID == svc.ID {
			current = p
		}
	}
	if target == nil {
		target = current
	}
	ctx, err := decodeObject[Context]("context", body.Context)
	if err != nil {
		return res.fail(err)
	}
	var params Parameters
	if target != nil {
		params, err = h.parameters(target.ID, catalog.InstanceUpdate, body.Parameters)
	} else {
		// Without a known plan there is no schema to check against; the
		// backend, which knows the instance's plan, decides.
		params, err = decodeObject[Parameters]("parameters", body.Parameters)
	}
	if err != nil {
		return res.fail(err)
	}
	if err := h.requireAsync(ActionUpdate, async); err != nil {
		return res.fail(err)
	}
	if plan != nil && current != nil && plan.ID != current.ID && !svc.IsPlanUpdateable(current) {
		return res.fail(&Error{Status: http.StatusUnprocessableEntity,
			Description:      "The plan of this Service Instance cannot be changed: its plan is not plan_updateable.",
			UpdateRepeatable: Bool(false)})
	}
	var mi *catalog.MaintenanceInfo
	if target != nil {
		if mi, err = checkMaintenanceInfo(body.MaintenanceInfo, target); err != nil {
			return res.fail(err)
		}
	} else if body.MaintenanceInfo != nil && body.MaintenanceInfo.Version != "" {
		mi = &catalog.MaintenanceInfo{Version: body.MaintenanceInfo.Version}
	}
	req := &UpdateRequest{Meta: *m, InstanceID: res.instanceID, Service: svc, Plan: plan,
		Parameters: params, Context: ctx, MaintenanceInfo: mi, PreviousValues: prev, AcceptsIncomplete: async}
	resp, err := h.backend.Update(r.Context(), req)
	if err != nil {
		return res.fail(err)
	}
	status, op, err := outcome(resp.Outcome, resp.Operation, async, http.StatusOK)
	if err != nil {
		return res.fail(fmt.Errorf("broker: Update of %s: %w", res.instanceID, err))
	}
	return res.ok(status, instanceBody{Operation: op,
		DashboardURL: resp.DashboardURL, Metadata: resp.Metadata})
}

func (h *Handler) deprovision(r *http.Request, m *Meta) result {
	res := result{instanceID: r.PathValue("instance_id")}
	async, err := acceptsIncomplete(r)
	if err != nil {
		return res.fail(err)
	}
	q := r.URL.Query()
	sid, pid := q.Get("service_id"), q.Get("plan_id")
	if err := required("service_id", sid, "plan_id", pid); err != nil {
		return res.fail(err)
	}
	svc, plan, err := h.lenientLookup(sid, pid)
	if err != nil {
		return res.fail(err)
	}
	if err := h.requireAsync(ActionDeprovision, async); err != nil {
		return res.fail(err)
	}
	resp, err := h.backend.Deprovision(r.Context(), &DeprovisionRequest{Meta: *m, InstanceID: res.instanceID,
		ServiceID: sid, PlanID: pid, Service: svc, Plan: plan, AcceptsIncomplete: async})
	if err != nil {
		return res.fail(err)
	}
	status, op, err := outcome(resp.Outcome, resp.Operation, async, http.StatusOK)
	if err != nil {
		return res.fail(fmt.Errorf("broker: Deprovision of %s: %w", res.instanceID, err))
	}
	return res.ok(status, operationBody{Operation: op})
}

func (h *Handler) fetchInstance(r *http.Request, m *Meta) result {
	res := result{instanceID: r.PathValue("instance_id")}
	q := r.URL.Query()
	sid, pid := q.Get("service_id"), q.Get("plan_id")
	if h.getInstance == nil || !h.retrievable(sid, pid, false) {
		return res.fail(ErrInstanceNotFound)
	}
	inst, err := h.getInstance.GetInstance(r.Context(), &GetInstanceRequest{Meta: *m, InstanceID: res.instanceID, ServiceID: sid, PlanID: pid})
	if err != nil {
		return res.fail(err)
	}
	if inst.ServiceID == "" || inst.PlanID == "" {
		return res.fail(fmt.Errorf("broker: GetInstance of %s returned no service_id or plan_id", res.instanceID))
	}
	if !h.retrievable(inst.ServiceID, inst.PlanID, false) {
		return res.fail(ErrInstanceNotFound)
	}
	return res.ok(http.StatusOK, fetchedInstanceBody{ServiceID: inst.ServiceID, PlanID: inst.PlanID,
		DashboardURL: inst.DashboardURL, Parameters: inst.Parameters, MaintenanceInfo: inst.MaintenanceInfo, Metadata: inst.Metadata})
}

func (h *Handler) instanceLastOperation(r *http.Request, m *Meta) result {
	res := result{instanceID: r.PathValue("instance_id")}
	q, err := lastOperationQuery(r)
	if err != nil {
		return res.fail(err)
	}
	lo, err := h.backend.LastOperation(r.Context(), &LastOperationRequest{Meta: *m, InstanceID: res.instanceID,
		ServiceID: q.Get("service_id"), PlanID: q.Get("plan_id"), Operation: q.Get("operation")})
	return res.lastOperation(lo, err, true)
}

func (h *Handler) bind(r *http.Request, m *Meta) result {
	res := result{instanceID: r.PathValue("instance_id"), bindingID: r.PathValue("binding_id")}
	async, err := acceptsIncomplete(r)
	if err != nil {
		return res.fail(err)
	}
	var body bindBody
	if err := h.decodeBody(r, &body); err != nil {
		return res.fail(err)
	}
	if err := required("service_id", body.ServiceID, "plan_id", body.PlanID); err != nil {
		return res.fail(err)
	}
	if body.AppGUID != nil && *body.AppGUID == "" {
		return res.fail(badRequest("app_guid must not be empty when present."))
	}
	svc, plan, err := h.lookup(body.ServiceID, body.PlanID)
	if err != nil {
		return res.fail(err)
	}
	if !svc.IsBindable(plan) || h.binder == nil {
		return res.fail(badRequest("The Service Plan is not bindable."))
	}
	predecessor := ""
	if body.PredecessorBindingID != nil {
		if predecessor = *body.PredecessorBindingID; predecessor == "" {
			return res.fail(badRequest("predecessor_binding_id must not be empty when present."))
		}
		if !plan.BindingRotatable {
			return res.fail(badRequest("The Service Plan does not support binding rotation (binding_rotatable is false)."))
		}
	}
	bindResource, err := decodeObject[BindResource]("bind_resource", body.BindResource)
	if err != nil {
		return res.fail(err)
	}
	ctx, err := decodeObject[Context]("context", body.Context)
	if err != nil {
		return res.fail(err)
	}
	params, err := h.parameters(plan.ID, catalog.BindingCreate, body.Parameters)
	if err != nil {
		return res.fail(err)
	}
	if err := h.requireAsync(ActionBind, async); err != nil {
		return res.fail(err)
	}
	appGUID := bindResource.AppGUID()
	if body.AppGUID != nil {
		appGUID = *body.AppGUID
	}
	resp, err := h.binder.Bind(r.Context(), &BindRequest{Meta: *m, InstanceID: res.instanceID, BindingID: res.bindingID,
		Service: svc, Plan: plan, AppGUID: appGUID, BindResource: bindResource, Context: ctx, Parameters: params,
		PredecessorBindingID: predecessor, AcceptsIncomplete: async})
	if err != nil {
		return res.fail(err)
	}
	status, op, err := outcome(resp.Outcome, resp.Operation, async, http.StatusCreated)
	if err != nil {
		return res.fail(fmt.Errorf("broker: Bind of %s/%s: %w", res.instanceID, res.bindingID, err))
	}
	if resp.Outcome == Accepted {
		if !svc.BindingsRetrievable {
			return res.fail(fmt.Errorf("broker: Bind of %s/%s was accepted asynchronously but service %q is not bindings_retrievable, so its credentials could never be fetched", res.instanceID, res.bindingID, svc.Name))
		}
		if !resp.Binding.empty() {
			return res.fail(fmt.Errorf("broker: Bind of %s/%s was accepted asynchronously with binding data; a 202 must carry none", res.instanceID, res.bindingID))
		}
		return res.ok(status, operationBody{Operation: op})
	}
	resp.Binding.Parameters = nil // sent by GET binding only
	body2, err := bindingResponse(svc.Requires, &resp.Binding)
	if err != nil {
		return res.fail(fmt.Errorf("broker: Bind of %s/%s: %w", res.instanceID, res.bindingID, err))
	}
	return res.ok(status, body2)
}

func (h *Handler) unbind(r *http.Request, m *Meta) result {
	res := result{instanceID: r.PathValue("instance_id"), bindingID: r.PathValue("binding_id")}
	async, err := acceptsIncomplete(r)
	if err != nil {
		return res.fail(err)
	}
	q := r.URL.Query()
	sid, pid := q.Get("service_id"), q.Get("plan_id")
	if err := required("service_id", sid, "plan_id", pid); err != nil {
		return res.fail(err)
	}
	svc, plan, err := h.lenientLookup(sid, pid)
	if err != nil {
		return res.fail(err)
	}
	if h.binder == nil {
		return res.fail(ErrBindingNotFound)
	}
	if err := h.requireAsync(ActionUnbind, async); err != nil {
		return res.fail(err)
	}
	resp, err := h.binder.Unbind(r.Context(), &UnbindRequest{Meta: *m, InstanceID: res.instanceID, BindingID: res.bindingID,
		ServiceID: sid, PlanID: pid, Service: svc, Plan: plan, AcceptsIncomplete: async})
	if err != nil {
		return res.fail(err)
	}
	status, op, err := outcome(resp.Outcome, resp.Operation, async, http.StatusOK)
	if err != nil {
		return res.fail(fmt.Errorf("broker: Unbind of %s/%s: %w", res.instanceID, res.bindingID, err))
	}
	return res.ok(status, operationBody{Operation: op})
}

func (h *Handler) fetchBinding(r *http.Request, m *Meta) result {
	res := result{instanceID: r.PathValue("instance_id"), bindingID: r.PathValue("binding_id")}
	q := r.URL.Query()
	sid, pid := q.Get("service_id"), q.Get("plan_id")
	if h.getBinding == nil || !h.retrievable(sid, pid, true) {
		return res.fail(ErrBindingNotFound)
	}
	b, err := h.getBinding.GetBinding(r.Context(), &GetBindingRequest{Meta: *m, InstanceID: res.instanceID,
		BindingID: res.bindingID, ServiceID: sid, PlanID: pid})
	if err != nil {
		return res.fail(err)
	}
	requires := allRequires // without a hint, nothing can be checked
	if s, ok := h.index.Service(sid); ok {
		requires = s.Requires
	} else if s, _, ok := h.index.Plan(pid); ok {
		requires = s.Requires
	}
	body, err := bindingResponse(requires, &b)
	if err != nil {
		return res.fail(fmt.Errorf("broker: GetBinding of %s/%s: %w", res.instanceID, res.bindingID, err))
	}
	return res.ok(http.StatusOK, body)
}

func (h *Handler) bindingLastOperation(r *http.Request, m *Meta) result {
	res := result{instanceID: r.PathValue("instance_id"), bindingID: r.PathValue("binding_id")}
	q, err := lastOperationQuery(r)
	if err != nil {
		return res.fail(err)
	}
	if h.binder == nil {
		return res.fail(ErrBindingNotFound)
	}
	lo, err := h.binder.BindingLastOperation(r.Context(), &BindingLastOperationRequest{Meta: *m, InstanceID: res.instanceID,
		BindingID: res.bindingID, ServiceID: q.Get("service_id"), PlanID: q.Get("plan_id"), Operation: q.Get("operation")})
	return res.lastOperation(lo, err, false)
}

// --- helpers shared by the endpoints ---

func (res result) fail(err error) result { res.err = err; return res }

func (res result) ok(status int, body any) result { res.status, res.body = status, body; return res }

func (res result) lastOperation(lo LastOperation, err error, instance bool) result {
	if err != nil {
		return res.fail(err)
	}
	switch lo.State {
	case InProgress, Succeeded, Failed:
	default:
		return res.fail(fmt.Errorf("broker: last_operation of %s returned state %q, not one of the three the spec defines", res.instanceID, lo.State))
	}
	body := lastOperationBody{State: lo.State, Description: lo.Description}
	if instance && lo.State == Failed {
		body.InstanceUsable, body.UpdateRepeatable = lo.InstanceUsable, lo.UpdateRepeatable
	}
	res.retryAfter = lo.RetryAfter
	return res.ok(http.StatusOK, body)
}

func (b *Binding) empty() bool {
	return len(b.Credentials) == 0 && b.Metadata == nil && b.SyslogDrainURL == "" && b.RouteServiceURL == "" &&
		len(b.VolumeMounts) == 0 && len(b.Endpoints) == 0
}

var allRequires = []string{catalog.RequiresSyslogDrain, catalog.RequiresRouteForwarding, catalog.RequiresVolumeMount}

// bindingResponse checks a backend's binding against the spec before it
// is sent: a malformed 201 makes the platform orphan-mitigate.
func bindingResponse(requires []string, b *Binding) (bindingBody, error) {
	has := func(r string) bool {
		for _, x := range requires {
			if x == r {
				return true
			}
		}
		return false
	}
	switch {
	case b.SyslogDrainURL != "" && !has(catalog.RequiresSyslogDrain):
		return bindingBody{}, errors.New("syslog_drain_url needs the service to require syslog_drain")
	case b.RouteServiceURL != "" && !has(catalog.RequiresRouteForwarding):
		return bindingBody{}, errors.New("route_service_url needs the service to require route_forwarding")
	case len(b.VolumeMounts) > 0 && !has(catalog.RequiresVolumeMount):
		return bindingBody{}, errors.New("volume_mounts need the service to require volume_mount")
	}
	for i, e := range b.Endpoints {
		if e.Host == "" || len(e.Ports) == 0 {
			return bindingBody{}, fmt.Errorf("endpoints[%d] needs a host and at least one port", i)
		}
		for _, p := range e.Ports {
			if !validPortSpec(p) {
				return bindingBody{}, fmt.Errorf("endpoints[%d] has a port that is neither a port nor a range", i)
			}
		}
		switch e.Protocol {
		case "", "tcp", "udp", "all":
		default:
			return bindingBody{}, fmt.Errorf("endpoints[%d] protocol must be tcp, udp or all", i)
		}
	}
	body := bindingBody{Credentials: b.Credentials, SyslogDrainURL: b.SyslogDrainURL, RouteServiceURL: b.RouteServiceURL,
		VolumeMounts: b.VolumeMounts, Endpoints: b.Endpoints, Parameters: b.Parameters}
	if md := b.Metadata; md != nil {
		if !md.ExpiresAt.IsZero() && !md.RenewBefore.IsZero() && md.RenewBefore.After(md.ExpiresAt) {
			return bindingBody{}, errors.New("metadata.renew_before is after metadata.expires_at")
		}
		body.Metadata = &bindingMetadataBody{}
		if !md.ExpiresAt.IsZero() {
			body.Metadata.ExpiresAt = osbTime(md.ExpiresAt)
		}
		if !md.RenewBefore.IsZero() {
			body.Metadata.RenewBefore = osbTime(md.RenewBefore)
		}
	}
	return body, nil
}

// validPortSpec accepts "443" and "9000-9010".
func validPortSpec(s string) bool {
	port := func(p string) (int, bool) {
		n, err := strconv.Atoi(p)
		return n, err == nil && n >= 0 && n <= 65535 && p[0] != '+' && p[0] != '-'
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '-' && i > 0 {
			lo, ok1 := port(s[:i])
			hi, ok2 := port(s[i+1:])
			return ok1 && ok2 && lo <= hi && i+1 < len(s)
		}
	}
	_, ok := port(s)
	return ok && s != ""
}

// outcome turns a backend's Outcome into a status and the operation token
// to send (only with 202), refusing the zero Outcome, a 202 that the
// platform did not allow, and a token over the spec's limit.
func outcome(o Outcome, operation string, async bool, doneStatus int) (int, string, error) {
	switch o {
	case Done:
		return doneStatus, "", nil
	case Existed:
		return http.StatusOK, "", nil
	case Accepted:
		if !async {
			return 0, "", errors.New("the backend answered Accepted to a request without accepts_incomplete=true; return broker.ErrAsyncRequired instead, or set Options.RequireAsync")
		}
		if len(operation) > maxOperationLen {
			return 0, "", fmt.Errorf("operation token is %d characters long; the spec allows %d", len(operation), maxOperationLen)
		}
		return http.StatusAccepted, operation, nil
	}
	return 0, "", fmt.Errorf("the backend returned %v, which is not an Outcome", o)
}

func (h *Handler) requireAsync(a Action, async bool) error {
	if h.opts.RequireAsync&a != 0 && !async {
		return ErrAsyncRequired
	}
	return nil
}

// lookup resolves a service and a plan that must both exist and belong
// together.
func (h *Handler) lookup(serviceID, planID string) (*catalog.Service, *catalog.Plan, error) {
	svc, ok := h.index.Service(serviceID)
	if !ok {
		return nil, nil, badRequest("Unknown service_id: the catalog has no Service Offering with this ID.")
	}
	if planID == "" {
		return nil, nil, badRequest("plan_id must not be empty.")
	}
	ps, plan, ok := h.index.Plan(planID)
	if !ok {
		return nil, nil, badRequest("Unknown plan_id: the catalog has no Service Plan with this ID.")
	}
	if ps.ID != svc.ID {
		return nil, nil, badRequest("The plan_id does not belong to the service_id's Service Offering.")
	}
	return svc, plan, nil
}

// lenientLookup resolves IDs for deletes, where the catalog may no longer
// have them: unknown IDs give nil, but a known plan of another known
// service is still a bad request.
func (h *Handler) lenientLookup(serviceID, planID string) (*catalog.Service, *catalog.Plan, error) {
	svc, _ := h.index.Service(serviceID)
	ps, plan, ok := h.index.Plan(planID)
	if ok && svc != nil && ps.ID != svc.ID {
		return nil, nil, badRequest("The plan_id does not belong to the service_id's Service Offering.")
	}
	return svc, plan, nil
}

// retrievable reports whether the service named by the hints (service_id,
// else plan_id's service; either may be empty or unknown) allows fetching
// instances, or bindings.
func (h *Handler) retrievable(serviceID, planID string, bindings bool) bool {
	s, ok := h.index.Service(serviceID)
	if !ok {
		if s, _, ok = h.index.Plan(planID); !ok {
			return true // no hint we can judge: ask the backend
		}
	}
	if bindings {
		return s.BindingsRetrievable
	}
	return s.InstancesRetrievable
}

// parameters validates and decodes a request's parameters. Absent
// parameters are nil for the backend, but on a provision or bind they are
// checked as {} first: a schema's required parameters are required even
// when the platform sends none, and a 400 now beats a failure in
// CloudFormation later (and the orphan mitigation after it). An update
// without parameters changes none, so there is nothing to check.
func (h *Handler) parameters(planID string, kind catalog.SchemaKind, raw json.RawMessage) (Parameters, error) {
	if isAbsent(raw) {
		if kind == catalog.InstanceUpdate {
			return nil, nil
		}
		if err := h.index.ValidateParameters(planID, kind, json.RawMessage("{}")); err != nil {
			return nil, &Error{Status: http.StatusBadRequest, Description: err.Error()}
		}
		return nil, nil
	}
	if err := h.index.ValidateParameters(planID, kind, raw); err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Description: err.Error()}
	}
	return decodeObject[Parameters]("parameters", raw)
}

func checkMaintenanceInfo(mi *maintenanceInfoBody, plan *catalog.Plan) (*catalog.MaintenanceInfo, error) {
	if mi == nil || mi.Version == "" {
		return nil, nil
	}
	if plan.MaintenanceInfo == nil || plan.MaintenanceInfo.Version != mi.Version {
		return nil, ErrMaintenanceInfoConflict
	}
	return &catalog.MaintenanceInfo{Version: mi.Version}, nil
}

func acceptsIncomplete(r *http.Request) (bool, error) {
	v := r.URL.Query()["accepts_incomplete"]
	if len(v) == 0 {
		return false, nil
	}
	switch v[0] {
	case "true":
		return true, nil
	case "false", "":
		return false, nil
	}
	return false, badRequest("accepts_incomplete must be true or false.")
}

func lastOperationQuery(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("The query string is malformed.")
	}
	if len(q.Get("operation")) > maxOperationLen {
		return nil, badRequest("The operation parameter is longer than 10,000 characters.")
	}
	return q, nil
}

// required returns a 400 naming the first of the name, value pairs whose
// value is empty.
func required(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return badRequest(pairs[i] + " is required and must not be empty.")
		}
	}
	return nil
}

// decodeBody reads and decodes a JSON object body. Error descriptions name
// the problem but never quote the body, which may hold secrets.
func (h *Handler) decodeBody(r *http.Request, v any) error {
	b, err := h.readBody(r)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te) && te.Field != "":
			return badRequest(fmt.Sprintf("The field %s must be of type %s, not %s.", te.Field, te.Type, te.Value))
		case errors.As(err, &te):
			return badRequest("The request body must be a JSON object.")
		case errors.As(err, &se):
			return badRequest(fmt.Sprintf("The request body is not valid JSON (at byte %d).", se.Offset))
		}
		return badRequest("The request body is not valid JSON.")
	}
	return nil
}

func isAbsent(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// decodeObject decodes an optional JSON object field, keeping numbers
// exact. Absent or null gives nil.
func decodeObject[M ~map[string]any](field string, raw json.RawMessage) (M, error) {
	if isAbsent(raw) {
		return nil, nil
	}
	var m M
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, badRequest("The field " + field + " must be a JSON object.")
	}
	return m, nil
}
