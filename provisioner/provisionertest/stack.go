package provisionertest

import (
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sort"
	"strings"
	"time"
)

// Stack statuses the fake's own transitions use.
const (
	statusCreateInProgress  = "CREATE_IN_PROGRESS"
	statusCreateFailed      = "CREATE_FAILED"
	statusCreateComplete    = "CREATE_COMPLETE"
	statusRollbackProgress  = "ROLLBACK_IN_PROGRESS"
	statusRollbackComplete  = "ROLLBACK_COMPLETE"
	statusDeleteInProgress  = "DELETE_IN_PROGRESS"
	statusDeleteFailed      = "DELETE_FAILED"
	statusDeleteComplete    = "DELETE_COMPLETE"
	statusUpdateInProgress  = "UPDATE_IN_PROGRESS"
	statusUpdateCleanup     = "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"
	statusUpdateComplete    = "UPDATE_COMPLETE"
	statusUpdateFailed      = "UPDATE_FAILED"
	statusUpdateRollback    = "UPDATE_ROLLBACK_IN_PROGRESS"
	statusUpdateRbCleanup   = "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"
	statusUpdateRbComplete  = "UPDATE_ROLLBACK_COMPLETE"
	statusImportComplete    = "IMPORT_COMPLETE"
	statusImportRbComplete  = "IMPORT_ROLLBACK_COMPLETE"
	resourceTypeStack       = "AWS::CloudFormation::Stack"
	defaultFailedLogicalID  = "Resource"
	defaultFailedType       = "AWS::CloudFormation::WaitConditionHandle"
	defaultFailureReason    = "Scripted failure"
	reasonUserInitiated     = "User Initiated"
	reasonUpdateCancelled   = "Stack update cancelled"
	reasonCreateCancelled   = "Resource creation cancelled"
	reasonUpdateCancelledRs = "Resource update cancelled"
)

// statuses are the 23 stack statuses of the CloudFormation API.
var statuses = map[string]bool{
	"CREATE_IN_PROGRESS": true, "CREATE_FAILED": true, "CREATE_COMPLETE": true,
	"ROLLBACK_IN_PROGRESS": true, "ROLLBACK_FAILED": true, "ROLLBACK_COMPLETE": true,
	"DELETE_IN_PROGRESS": true, "DELETE_FAILED": true, "DELETE_COMPLETE": true,
	"UPDATE_IN_PROGRESS": true, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS": true, "UPDATE_COMPLETE": true,
	"UPDATE_FAILED": true, "UPDATE_ROLLBACK_IN_PROGRESS": true, "UPDATE_ROLLBACK_FAILED": true,
	"UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS": true, "UPDATE_ROLLBACK_COMPLETE": true,
	"REVIEW_IN_PROGRESS": true, "IMPORT_IN_PROGRESS": true, "IMPORT_COMPLETE": true,
	"IMPORT_ROLLBACK_IN_PROGRESS": true, "IMPORT_ROLLBACK_FAILED": true, "IMPORT_ROLLBACK_COMPLETE": true,
}

// updatable are the statuses from which UpdateStack is accepted.
var updatable = map[string]bool{
	statusCreateComplete: true, statusUpdateComplete: true, statusUpdateRbComplete: true,
	statusImportComplete: true, statusImportRbComplete: true,
	statusCreateFailed: true, statusUpdateFailed: true, // after DisableRollback: retry by updating
}

// Parameters are stack parameter values by key. Their String, GoString
// and LogValue print the keys only, so values (often secrets) stay out of
// test logs; index the map to read a value.
type Parameters map[string]string

// String prints the keys only.
func (p Parameters) String() string {
	keys := sortedKeys(p)
	for i, k := range keys {
		keys[i] = k + ":<redacted>"
	}
	return "map[" + strings.Join(keys, " ") + "]"
}

// GoString prints the keys only.
func (p Parameters) GoString() string { return "provisionertest.Parameters" + p.String() }

// LogValue logs the keys only.
func (p Parameters) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, len(p))
	for _, k := range sortedKeys(p) {
		attrs = append(attrs, slog.String(k, "<redacted>"))
	}
	return slog.GroupValue(attrs...)
}

func (p Parameters) clone() Parameters {
	if p == nil {
		return nil
	}
	out := make(Parameters, len(p))
	for k, v := range p {
		out[k] = v
	}
	return out
}

func (p Parameters) equal(q Parameters) bool {
	if len(p) != len(q) {
		return false
	}
	for k, v := range p {
		if w, ok := q[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// StackState is a snapshot of a stack, for assertions.
type StackState struct {
	Name, ID             string
	Status, StatusReason string
	// TemplateBody or TemplateURL is the current template.
	TemplateBody, TemplateURL string
	Parameters                Parameters
	Tags                      map[string]string
	Outputs                   map[string]string
	Capabilities              []string
	RoleARN                   string
	TerminationProtection     bool
	TimeoutInMinutes          int32
	DisableRollback           bool
	// ClientRequestTokens are the tokens of the stack's accepted operations,
	// oldest first (operations without a token add none).
	ClientRequestTokens []string
	// Created, LastUpdated and Deleted are by the fake's Clock; zero if not
	// yet.
	Created, LastUpdated, Deleted time.Time
	// Events are the stack's events, oldest first (DescribeStackEvents
	// returns them newest first).
	Events []Event
}

// Event is a stack event.
type Event struct {
	ID                 string
	LogicalResourceID  string
	PhysicalResourceID string
	ResourceType       string
	Status             string
	Reason             string
	ClientRequestToken string
	Timestamp          time.Time
}

type tag struct{ key, value string }

type stack struct {
	seq             int64
	id, name        string
	status, reason  string
	created         time.Time
	updated         time.Time
	deleted         time.Time
	body, url       string
	params          Parameters
	tags            []tag
	caps            []string
	roleARN         string
	protection      bool
	timeout         int32
	disableRollback bool
	outputs         map[string]string
	tokens          []string
	events          []event
	lastEventAt     time.Time
	createToken     string
	op              *operation // the latest accepted operation; nil after SetStatus
	pending         []phase    // what is left of op, earliest first
}

type event struct {
	id         string
	logicalID  string
	physicalID string
	typ        string
	status     string
	reason     string
	token      string
	opID       string
	at         time.Time
}

// operation is an accepted operation.
type operation struct {
	action          string
	token           string
	id              string // OperationId
	script          Script
	disableRollback bool
	onFailure       string
	retain          []string // a delete's RetainResources
	prev            snapshot // the stack before an update, for its rollback
}

// snapshot is what an update's rollback restores.
type snapshot struct {
	body, url string
	params    Parameters
	tags      []tag
	outputs   map[string]string
}

// phase is a step of an operation, applied once Clock reaches at.
type phase struct {
	at        time.Time
	op        *operation
	resources []event // resource events, emitted before the stack event
	status    string  // the stack's new status; "" for none
	reason    string
	effect    func(s *stack)
}

// advance applies the phases of s that are due at now.
func (f *CloudFormation) advance(s *stack, now time.Time) {
	for len(s.pending) > 0 && !s.pending[0].at.After(now) {
		p := s.pending[0]
		s.pending = s.pending[1:]
		f.apply(s, p)
	}
	if len(s.pending) == 0 {
		s.pending = nil
	}
}

func (f *CloudFormation) apply(s *stack, p phase) {
	for _, e := range p.resources {
		e.token, e.opID = p.op.token, p.op.id
		s.emit(p.at, e)
	}
	if p.effect != nil {
		p.effect(s)
	}
	if p.status != "" {
		f.setStatus(s, p.op, p.at, p.status, p.reason)
	}
}

// setStatus moves s to status and emits the stack event.
func (f *CloudFormation) setStatus(s *stack, op *operation, at time.Time, status, reason string) {
	wasLive := s.status != statusDeleteComplete
	s.status, s.reason = status, reason
	e := event{id: f.uuid(), logicalID: s.name, physicalID: s.id, typ: resourceTypeStack, status: status, reason: reason}
	if op != nil {
		e.token, e.opID = op.token, op.id
	}
	s.emit(at, e)
	if status == statusDeleteComplete && wasLive {
		s.deleted = at
		s.pending = nil
		if f.byName[s.name] == s {
			delete(f.byName, s.name)
		}
		f.live--
	}
}

// emit appends an event. Timestamps have CloudFormation's millisecond
// precision and strictly increase within a stack, so that ordering by
// timestamp and ordering as returned agree.
func (s *stack) emit(at time.Time, e event) {
	at = at.Truncate(time.Millisecond)
	if !s.lastEventAt.IsZero() && !at.After(s.lastEventAt) {
		at = s.lastEventAt.Add(time.Millisecond)
	}
	s.lastEventAt = at
	e.at = at
	if e.id == "" {
		e.id = e.logicalID + "-" + e.status + "-" + at.UTC().Format(timeLayout)
	}
	s.events = append(s.events, e)
}

// find returns the stack named or identified by nameOrID, brought up to
// now. By name it finds live stacks only; by ID also deleted ones if
// withDeleted.
func (f *CloudFormation) find(nameOrID string, now time.Time, withDeleted bool) *stack {
	var s *stack
	if strings.HasPrefix(nameOrID, "arn:") {
		s = f.byID[nameOrID]
	} else {
		s = f.byName[nameOrID]
	}
	if s == nil {
		return nil
	}
	f.advance(s, now)
	if s.status == statusDeleteComplete && (!withDeleted || s.id != nameOrID) {
		return nil
	}
	return s
}

// countLive returns the exact number of live stacks, bringing all stacks
// up to now. It is O(stacks), for the StackLimit check only.
func (f *CloudFormation) countLive(now time.Time) int {
	for _, s := range f.order {
		if s.status != statusDeleteComplete {
			f.advance(s, now)
		}
	}
	return f.live
}

// script returns op's Script.
func (f *CloudFormation) script(op Op) Script {
	if f.opts.Script != nil {
		return f.opts.Script(op)
	}
	return Script{Delay: f.opts.DefaultDelay}
}

// install sets the phases of op, which started at t0, unless a later
// operation has replaced it meanwhile.
func (f *CloudFormation) install(s *stack, op *operation, sc Script, t0 time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.op != op {
		return
	}
	op.script = sc
	s.pending = f.phases(s, op, sc, t0)
}

// failures returns sc's failed resources with defaults filled in.
func failures(sc Script, cascade string) []ResourceFailure {
	rs := append([]ResourceFailure(nil), sc.FailedResources...)
	if len(rs) == 0 {
		rs = []ResourceFailure{{}}
	}
	for i := range rs {
		if rs[i].LogicalID == "" {
			rs[i].LogicalID = defaultFailedLogicalID
			if i > 0 {
				rs[i].LogicalID = fmt.Sprintf("%s%d", defaultFailedLogicalID, i+1)
			}
		}
		if rs[i].Type == "" {
			rs[i].Type = defaultFailedType
		}
		if rs[i].Reason == "" {
			rs[i].Reason = cascade
			if i == 0 || cascade == "" {
				rs[i].Reason = defaultFailureReason
			}
		}
	}
	return rs
}

// failedList is the stack-level reason's resource list: "[A, B]", sorted
// by logical ID (so the root cause is the oldest *_FAILED resource event,
// not the first name here).
func failedList(rs []ResourceFailure) string {
	ids := make([]string, 0, len(rs))
	seen := map[string]bool{}
	for _, r := range rs {
		if !seen[r.LogicalID] {
			seen[r.LogicalID] = true
			ids = append(ids, r.LogicalID)
		}
	}
	sort.Strings(ids)
	return "[" + strings.Join(ids, ", ") + "]"
}

// physicalID is a stable made-up physical ID for a resource of s.
func physicalID(s *stack, logicalID string) string {
	h := fnv.New64a()
	h.Write([]byte(s.id))
	h.Write([]byte(logicalID))
	return fmt.Sprintf("%s-%s-%X", s.name, logicalID, h.Sum64()&0xffffffffff)
}

func resourceEvents(s *stack, rs []ResourceFailure, status string, withReason, withPhysical bool) []event {
	out := make([]event, 0, len(rs))
	for _, r := range rs {
		e := event{logicalID: r.LogicalID, typ: r.Type, status: status}
		if withReason {
			e.reason = r.Reason
		}
		if withPhysical {
			e.physicalID = physicalID(s, r.LogicalID)
		}
		out = append(out, e)
	}
	return out
}

// phases builds op's timeline. The operation's *_IN_PROGRESS stack event
// has already been emitted at t0.
func (f *CloudFormation) phases(s *stack, op *operation, sc Script, t0 time.Time) []phase {
	final := func(status string) string {
		if sc.FinalStatus != "" {
			return sc.FinalStatus
		}
		return status
	}
	done := t0.Add(sc.Delay)
	rolledBack := done.Add(sc.RollbackDelay)
	var ps []phase
	switch op.action {
	case "CreateStack":
		if !sc.Fail {
			outputs := cloneMap(sc.Outputs)
			return []phase{{at: done, op: op, status: final(statusCreateComplete), effect: func(s *stack) { s.outputs = outputs }}}
		}
		rs := failures(sc, reasonCreateCancelled)
		list := failedList(rs)
		ps = append(ps, phase{at: t0, op: op, resources: resourceEvents(s, rs, statusCreateInProgress, false, false)})
		failed := resourceEvents(s, rs, statusCreateFailed, true, false)
		switch {
		case op.disableRollback || op.onFailure == "DO_NOTHING":
			ps = append(ps, phase{at: done, op: op, resources: failed, status: final(statusCreateFailed),
				reason: "The following resource(s) failed to create: " + list + ". "})
		case op.onFailure == "DELETE":
			ps = append(ps,
				phase{at: done, op: op, resources: failed, status: statusDeleteInProgress,
					reason: "The following resource(s) failed to create: " + list + ". Delete requested by user."},
				phase{at: rolledBack, op: op, resources: resourceEvents(s, rs, statusDeleteComplete, false, false), status: final(statusDeleteComplete),
					reason: finalReason(sc, "The following resource(s) failed to create: "+list+". Delete requested by user.")})
		default:
			reason := "The following resource(s) failed to create: " + list + ". Rollback requested by user."
			ps = append(ps,
				phase{at: done, op: op, resources: failed, status: statusRollbackProgress, reason: reason},
				phase{at: rolledBack, op: op, resources: resourceEvents(s, rs, statusDeleteComplete, false, false), status: final(statusRollbackComplete),
					reason: finalReason(sc, reason)})
		}
		return ps

	case "UpdateStack":
		if !sc.Fail {
			setOutputs := func(s *stack) {
				if sc.Outputs != nil {
					s.outputs = cloneMap(sc.Outputs)
				}
			}
			if sc.FinalStatus != "" {
				return []phase{{at: done, op: op, status: sc.FinalStatus, effect: setOutputs}}
			}
			return []phase{
				{at: done, op: op, status: statusUpdateCleanup, effect: setOutputs},
				{at: done.Add(sc.CleanupDelay), op: op, status: statusUpdateComplete},
			}
		}
		rs := failures(sc, reasonUpdateCancelledRs)
		reason := "The following resource(s) failed to update: " + failedList(rs) + ". "
		ps = append(ps, phase{at: t0, op: op, resources: resourceEvents(s, rs, statusUpdateInProgress, false, true)})
		failed := resourceEvents(s, rs, statusUpdateFailed, true, true)
		if op.disableRollback {
			return append(ps, phase{at: done, op: op, resources: failed, status: final(statusUpdateFailed), reason: reason})
		}
		prev := op.prev
		ps = append(ps, phase{at: done, op: op, resources: failed, status: statusUpdateRollback, reason: reason,
			effect: func(s *stack) { s.restore(prev) }})
		return append(ps, rollbackTail(s, op, rs, sc, rolledBack, reason)...)

	case "DeleteStack":
		if !sc.Fail {
			return []phase{{at: done, op: op, resources: s.skipped(op.retain), status: final(statusDeleteComplete)}}
		}
		rs := failures(sc, "")
		return []phase{
			{at: t0, op: op, resources: resourceEvents(s, rs, statusDeleteInProgress, false, true)},
			{at: done, op: op, resources: resourceEvents(s, rs, statusDeleteFailed, true, true), status: final(statusDeleteFailed),
				reason: "The following resource(s) failed to delete: " + failedList(rs) + ". "},
		}
	}
	return nil
}

// finalReason is the status reason of a failed operation's terminal
// status: none, as in ROLLBACK_COMPLETE, unless the script overrides the
// status, which then keeps the failure's reason (a ROLLBACK_FAILED or
// UPDATE_ROLLBACK_FAILED stack has one).
func finalReason(sc Script, reason string) string {
	if sc.FinalStatus != "" {
		return reason
	}
	return ""
}

// rollbackTail is the end of an update's rollback, from at.
func rollbackTail(s *stack, op *operation, rs []ResourceFailure, sc Script, at time.Time, reason string) []phase {
	restored := resourceEvents(s, rs, statusUpdateComplete, false, true)
	if sc.FinalStatus != "" {
		return []phase{{at: at, op: op, resources: restored, status: sc.FinalStatus, reason: reason}}
	}
	return []phase{
		{at: at, op: op, resources: restored, status: statusUpdateRbCleanup},
		{at: at.Add(sc.CleanupDelay), op: op, status: statusUpdateRbComplete},
	}
}

// skipped returns the DELETE_SKIPPED events of the retained resources,
// with the type and physical ID of their latest event.
func (s *stack) skipped(retain []string) []event {
	var out []event
	for _, id := range retain {
		e := event{logicalID: id, status: "DELETE_SKIPPED"}
		for i := len(s.events) - 1; i >= 0; i-- {
			if s.events[i].logicalID == id && s.events[i].typ != resourceTypeStack {
				e.typ, e.physicalID = s.events[i].typ, s.events[i].physicalID
				break
			}
		}
		out = append(out, e)
	}
	return out
}

func (s *stack) snapshot() snapshot {
	return snapshot{body: s.body, url: s.url, params: s.params.clone(), tags: append([]tag(nil), s.tags...), outputs: cloneMap(s.outputs)}
}

func (s *stack) restore(p snapshot) {
	s.body, s.url, s.params, s.tags, s.outputs = p.body, p.url, p.params.clone(), append([]tag(nil), p.tags...), cloneMap(p.outputs)
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (s *stack) state() StackState {
	st := StackState{
		Name: s.name, ID: s.id, Status: s.status, StatusReason: s.reason,
		TemplateBody: s.body, TemplateURL: s.url,
		Parameters: s.params.clone(), Outputs: cloneMap(s.outputs),
		Capabilities: append([]string(nil), s.caps...), RoleARN: s.roleARN,
		TerminationProtection: s.protection, TimeoutInMinutes: s.timeout, DisableRollback: s.disableRollback,
		ClientRequestTokens: append([]string(nil), s.tokens...),
		Created:             s.created, LastUpdated: s.updated, Deleted: s.deleted,
	}
	if len(s.tags) > 0 {
		st.Tags = make(map[string]string, len(s.tags))
		for _, t := range s.tags {
			st.Tags[t.key] = t.value
		}
	}
	st.Events = make([]Event, len(s.events))
	for i, e := range s.events {
		st.Events[i] = Event{ID: e.id, LogicalResourceID: e.logicalID, PhysicalResourceID: e.physicalID,
			ResourceType: e.typ, Status: e.status, Reason: e.reason, ClientRequestToken: e.token, Timestamp: e.at}
	}
	return st
}

// Stack returns a snapshot of the stack named or identified by nameOrID,
// brought up to the fake's Clock. As DescribeStacks does, a name finds a
// live stack only; a stack ID also finds a deleted one.
func (f *CloudFormation) Stack(nameOrID string) (StackState, bool) {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.find(nameOrID, now, true)
	if s == nil {
		return StackState{}, false
	}
	return s.state(), true
}

// Stacks returns snapshots of all stacks, deleted ones included, in
// creation order, brought up to the fake's Clock.
func (f *CloudFormation) Stacks() []StackState {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]StackState, 0, len(f.order))
	for _, s := range f.order {
		f.advance(s, now)
		out = append(out, s.state())
	}
	return out
}

// ErrNoStack is returned by [CloudFormation.SetStatus] for a stack it does
// not know, or knows as deleted.
var ErrNoStack = errors.New("provisionertest: no such live stack")

// SetStatus forces the stack named or identified by nameOrID into status,
// one of the 23 CloudFormation stack statuses, with an empty status reason
// and a stack event. The stack's operation in progress, if any, stops
// where it is. "DELETE_COMPLETE" deletes the stack. It fails with
// [ErrNoStack] for an unknown or deleted stack, and for an unknown status.
func (f *CloudFormation) SetStatus(nameOrID, status string) error {
	if !statuses[status] {
		return fmt.Errorf("provisionertest: SetStatus: unknown stack status %q", status)
	}
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.find(nameOrID, now, false)
	if s == nil {
		return fmt.Errorf("provisionertest: SetStatus %q: %w", nameOrID, ErrNoStack)
	}
	s.pending, s.op = nil, nil
	f.setStatus(s, nil, now, status, "")
	return nil
}
