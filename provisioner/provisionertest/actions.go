package provisionertest

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	maxStackNameLen    = 128
	maxTags            = 50
	maxTemplateBodyLen = 51200
	maxTokenLen        = 128
)

var validCapabilities = map[string]bool{"CAPABILITY_IAM": true, "CAPABILITY_NAMED_IAM": true, "CAPABILITY_AUTO_EXPAND": true}

// stackInput is what CreateStack and UpdateStack send.
type stackInput struct {
	name            string
	body, url       string
	hasBody, hasURL bool
	usePrevTemplate bool
	params          []paramInput
	tags            []tag
	tagsGiven       bool
	caps            []string
	roleARN         string
	token           string
	timeout         int32
	protection      bool
	disableRollback bool
	onFailure       string
}

type paramInput struct {
	key, value string
	usePrev    bool
}

func nullError(field string) *apiError {
	return validationError("1 validation error detected: Value null at '" + field + "' failed to satisfy constraint: Member must not be null")
}

func member(prefix string, i int) string { return prefix + ".member." + strconv.Itoa(i) }

// listValues reads a list of strings, PREFIX.member.N.
func listValues(form url.Values, prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[member(prefix, i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

func parseStackInput(form url.Values) (stackInput, *apiError) {
	in := stackInput{
		name:            form.Get("StackName"),
		body:            form.Get("TemplateBody"),
		url:             form.Get("TemplateURL"),
		usePrevTemplate: form.Get("UsePreviousTemplate") == "true",
		roleARN:         form.Get("RoleARN"),
		token:           form.Get("ClientRequestToken"),
		protection:      form.Get("EnableTerminationProtection") == "true",
		disableRollback: form.Get("DisableRollback") == "true" || form.Get("DeploymentConfig.DisableRollback") == "true",
		onFailure:       form.Get("OnFailure"),
	}
	_, in.hasBody = form["TemplateBody"]
	_, in.hasURL = form["TemplateURL"]
	if in.name == "" {
		return in, nullError("stackName")
	}
	if len(in.body) > maxTemplateBodyLen {
		return in, validationError("1 validation error detected: Value at 'templateBody' failed to satisfy constraint: Member must have length less than or equal to 51200")
	}
	if e := validateToken(in.token); e != nil {
		return in, e
	}
	for i := 1; ; i++ {
		p := member("Parameters", i)
		key, ok := form[p+".ParameterKey"]
		if !ok {
			if _, hasValue := form[p+".ParameterValue"]; hasValue {
				return in, nullError("parameters." + strconv.Itoa(i) + ".member.parameterKey")
			}
			break
		}
		in.params = append(in.params, paramInput{key: key[0], value: form.Get(p + ".ParameterValue"), usePrev: form.Get(p+".UsePreviousValue") == "true"})
	}
	_, in.tagsGiven = form["Tags"]
	for i := 1; ; i++ {
		p := member("Tags", i)
		key, ok := form[p+".Key"]
		if !ok {
			break
		}
		in.tagsGiven = true
		if key[0] == "" {
			return in, nullError("tags." + strconv.Itoa(i) + ".member.key")
		}
		in.tags = append(in.tags, tag{key: key[0], value: form.Get(p + ".Value")})
	}
	if len(in.tags) > maxTags {
		return in, validationError("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50")
	}
	in.caps = listValues(form, "Capabilities")
	for _, c := range in.caps {
		if !validCapabilities[c] {
			return in, validationError("1 validation error detected: Value '[" + strings.Join(in.caps, ", ") + "]' at 'capabilities' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [CAPABILITY_AUTO_EXPAND, CAPABILITY_NAMED_IAM, CAPABILITY_IAM]]")
		}
	}
	if t := form.Get("TimeoutInMinutes"); t != "" {
		n, err := strconv.ParseInt(t, 10, 32)
		if err != nil || n < 1 {
			return in, validationError("1 validation error detected: Value '" + t + "' at 'timeoutInMinutes' failed to satisfy constraint: Member must have value greater than or equal to 1")
		}
		in.timeout = int32(n)
	}
	switch in.onFailure {
	case "", "ROLLBACK", "DELETE", "DO_NOTHING":
	default:
		return in, validationError("1 validation error detected: Value '" + in.onFailure + "' at 'onFailure' failed to satisfy constraint: Member must satisfy enum value set: [DO_NOTHING, ROLLBACK, DELETE]")
	}
	return in, nil
}

// validateStackName applies CloudFormation's rules for a new stack's name.
func validateStackName(name string) *apiError {
	if name == "" {
		return nullError("stackName")
	}
	if len(name) > maxStackNameLen {
		return validationError("1 validation error detected: Value '" + name + "' at 'stackName' failed to satisfy constraint: Member must have length less than or equal to 128")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '-')) {
			return validationError("1 validation error detected: Value '" + name + "' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*")
		}
	}
	return nil
}

func validateToken(token string) *apiError {
	if token == "" {
		return nil
	}
	bad := len(token) > maxTokenLen
	for i := 0; i < len(token) && !bad; i++ {
		c := token[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		bad = !alnum && (i == 0 || c != '-')
	}
	if bad {
		return validationError("1 validation error detected: Value '" + token + "' at 'clientRequestToken' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9][-a-zA-Z0-9]*")
	}
	return nil
}

// checkCapabilities enforces Options.RequiredCapabilities.
func (f *CloudFormation) checkCapabilities(given []string) *apiError {
	var missing []string
	for _, c := range f.opts.RequiredCapabilities {
		found := false
		for _, g := range given {
			found = found || g == c
		}
		if !found {
			missing = append(missing, c)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &apiError{status: http.StatusBadRequest, code: "InsufficientCapabilitiesException", message: "Requires capabilities : [" + strings.Join(missing, ", ") + "]"}
}

func (f *CloudFormation) bumpAttempt(action, name string) int {
	k := attemptKey{action, name}
	f.attempts[k]++
	return f.attempts[k]
}

func (f *CloudFormation) stackID(name string) string {
	return "arn:aws:cloudformation:" + f.opts.Region + ":" + f.opts.AccountID + ":stack/" + name + "/" + f.uuid()
}

func writeStackID(b *xmlBuf, stackID, opID string) {
	b.text("StackId", stackID)
	b.text("OperationId", opID)
}

func (f *CloudFormation) createStack(form url.Values, now time.Time, b *xmlBuf) *apiError {
	in, aerr := parseStackInput(form)
	if aerr != nil {
		return aerr
	}
	if aerr := validateStackName(in.name); aerr != nil {
		return aerr
	}
	switch {
	case !in.hasBody && !in.hasURL:
		return validationError("Either Template URL or Template Body must be specified.")
	case in.hasBody && in.hasURL:
		return validationError("Specify exactly one of TemplateBody or TemplateURL.")
	case in.disableRollback && in.onFailure != "":
		return validationError("Either DisableRollback or OnFailure can be specified, not both.")
	}
	params := Parameters{}
	for _, p := range in.params {
		if p.usePrev {
			return validationError("Invalid input for parameter key " + p.key + ". UsePreviousValue can only be specified when updating a stack")
		}
		params[p.key] = p.value
	}
	if aerr := f.checkCapabilities(in.caps); aerr != nil {
		return aerr
	}

	var (
		s       *stack
		op      *operation
		attempt int
	)
	aerr = func() *apiError {
		f.mu.Lock()
		defer f.mu.Unlock()
		if old := f.find(in.name, now, false); old != nil {
			if in.token != "" && old.createToken == in.token {
				// A retry of the call that created this stack.
				s = old
				return nil
			}
			return &apiError{status: http.StatusBadRequest, code: "AlreadyExistsException", message: "Stack [" + in.name + "] already exists"}
		}
		if f.opts.StackLimit > 0 && f.live >= f.opts.StackLimit && f.countLive(now) >= f.opts.StackLimit {
			return &apiError{status: http.StatusBadRequest, code: "LimitExceededException",
				message: "Cannot exceed quota for StacksPerRegion: " + strconv.Itoa(f.opts.StackLimit)}
		}
		f.seq++
		onFailure := in.onFailure
		if onFailure == "" && !in.disableRollback {
			onFailure = "ROLLBACK"
		}
		op = &operation{action: "CreateStack", token: in.token, id: f.uuid(), disableRollback: in.disableRollback, onFailure: onFailure}
		s = &stack{
			seq: f.seq, id: f.stackID(in.name), name: in.name, created: now,
			body: in.body, url: in.url, params: params, tags: in.tags, caps: in.caps, roleARN: in.roleARN,
			protection: in.protection, timeout: in.timeout, disableRollback: in.disableRollback,
			createToken: in.token, op: op,
		}
		if in.token != "" {
			s.tokens = append(s.tokens, in.token)
		}
		f.order = append(f.order, s)
		f.byID[s.id] = s
		f.byName[s.name] = s
		f.live++
		attempt = f.bumpAttempt("CreateStack", in.name)
		f.setStatus(s, op, now, statusCreateInProgress, reasonUserInitiated)
		return nil
	}()
	if aerr != nil {
		return aerr
	}
	if op == nil { // an idempotent retry
		f.mu.Lock()
		id, opID := s.id, ""
		for _, e := range s.events {
			if e.status == statusCreateInProgress && e.typ == resourceTypeStack {
				opID = e.opID
				break
			}
		}
		f.mu.Unlock()
		writeStackID(b, id, opID)
		return nil
	}
	sc := f.script(Op{Action: "CreateStack", StackName: s.name, StackID: s.id, Parameters: params.clone(),
		TemplateBody: in.body, TemplateURL: in.url, ClientRequestToken: in.token, Attempt: attempt})
	f.install(s, op, sc, now)
	writeStackID(b, s.id, op.id)
	return nil
}

func (f *CloudFormation) updateStack(form url.Values, now time.Time, b *xmlBuf) *apiError {
	in, aerr := parseStackInput(form)
	if aerr != nil {
		return aerr
	}
	switch {
	case in.usePrevTemplate && (in.hasBody || in.hasURL):
		return validationError("You cannot specify both usePreviousTemplate and Template Body/Template Url.")
	case !in.usePrevTemplate && !in.hasBody && !in.hasURL:
		return validationError("Either Template URL or Template Body must be specified.")
	case in.hasBody && in.hasURL:
		return validationError("Specify exactly one of TemplateBody or TemplateURL.")
	}
	if aerr := f.checkCapabilities(in.caps); aerr != nil {
		return aerr
	}

	var (
		s       *stack
		op      *operation
		opID    string
		attempt int
		params  Parameters
	)
	aerr = func() *apiError {
		f.mu.Lock()
		defer f.mu.Unlock()
		s = f.find(in.name, now, false)
		if s == nil {
			return validationError("Stack [" + in.name + "] does not exist")
		}
		if in.token != "" && s.op != nil && s.op.action == "UpdateStack" && s.op.token == in.token {
			opID = s.op.id // a retry of the call that started this update
			return nil
		}
		if !updatable[s.status] {
			return validationError("Stack:" + s.id + " is in " + s.status + " state and can not be updated.")
		}
		body, tmplURL := in.body, in.url
		if in.usePrevTemplate {
			body, tmplURL = s.body, s.url
		}
		params = Parameters{}
		for _, p := range in.params {
			if !p.usePrev {
				params[p.key] = p.value
				continue
			}
			if p.value != "" {
				return validationError("Invalid input for parameter key " + p.key + ". Cannot specify usePreviousValue as true and non empty value for a parameter")
			}
			v, ok := s.params[p.key]
			if !ok {
				return validationError("Invalid input for parameter key " + p.key + ". Cannot specify usePreviousValue as true for a parameter key not in the previous template")
			}
			params[p.key] = v
		}
		tags := s.tags
		if in.tagsGiven {
			tags = in.tags
		}
		if body == s.body && tmplURL == s.url && params.equal(s.params) && tagsEqual(tags, s.tags) {
			return validationError("No updates are to be performed.")
		}
		op = &operation{action: "UpdateStack", token: in.token, id: f.uuid(), disableRollback: in.disableRollback, prev: s.snapshot()}
		s.body, s.url, s.params, s.tags, s.caps = body, tmplURL, params, tags, in.caps
		if in.roleARN != "" {
			s.roleARN = in.roleARN
		}
		s.updated = now
		s.op, s.pending = op, nil
		if in.token != "" {
			s.tokens = append(s.tokens, in.token)
		}
		attempt = f.bumpAttempt("UpdateStack", s.name)
		f.setStatus(s, op, now, statusUpdateInProgress, reasonUserInitiated)
		return nil
	}()
	if aerr != nil {
		return aerr
	}
	if op == nil {
		writeStackID(b, s.id, opID)
		return nil
	}
	sc := f.script(Op{Action: "UpdateStack", StackName: s.name, StackID: s.id, Parameters: params.clone(),
		TemplateBody: s.body, TemplateURL: s.url, ClientRequestToken: in.token, Attempt: attempt})
	f.install(s, op, sc, now)
	writeStackID(b, s.id, op.id)
	return nil
}

func tagsEqual(a, b []tag) bool {
	if len(a) != len(b) {
		return false
	}
	m := make(map[string]string, len(a))
	for _, t := range a {
		m[t.key] = t.value
	}
	for _, t := range b {
		if v, ok := m[t.key]; !ok || v != t.value {
			return false
		}
	}
	return true
}

func (f *CloudFormation) deleteStack(form url.Values, now time.Time, _ *xmlBuf) *apiError {
	name, token := form.Get("StackName"), form.Get("ClientRequestToken")
	if name == "" {
		return nullError("stackName")
	}
	if aerr := validateToken(token); aerr != nil {
		return aerr
	}
	retain := listValues(form, "RetainResources")

	var (
		s       *stack
		op      *operation
		attempt int
		state   Op
	)
	aerr := func() *apiError {
		f.mu.Lock()
		defer f.mu.Unlock()
		s = f.find(name, now, true)
		switch {
		case s == nil || s.status == statusDeleteComplete:
			return nil // deleting what does not exist succeeds
		case s.protection:
			return validationError("Stack [" + name + "] cannot be deleted while TerminationProtection is enabled")
		case len(retain) > 0 && s.status != statusDeleteFailed:
			return validationError("Invalid operation on stack " + s.id + ": RetainResources can only be specified when the stack is in DELETE_FAILED state")
		case s.status == statusDeleteInProgress:
			return nil
		case token != "" && s.op != nil && s.op.action == "DeleteStack" && s.op.token == token:
			return nil // a retry of the call that started the last delete
		}
		op = &operation{action: "DeleteStack", token: token, id: f.uuid(), retain: retain}
		s.op, s.pending = op, nil
		if token != "" {
			s.tokens = append(s.tokens, token)
		}
		attempt = f.bumpAttempt("DeleteStack", s.name)
		state = Op{Action: "DeleteStack", StackName: s.name, StackID: s.id, Parameters: s.params.clone(),
			TemplateBody: s.body, TemplateURL: s.url, ClientRequestToken: token, RetainResources: retain, Attempt: attempt}
		f.setStatus(s, op, now, statusDeleteInProgress, reasonUserInitiated)
		return nil
	}()
	if aerr != nil || op == nil {
		return aerr
	}
	f.install(s, op, f.script(state), now)
	return nil
}

func (f *CloudFormation) cancelUpdateStack(form url.Values, now time.Time, _ *xmlBuf) *apiError {
	name, token := form.Get("StackName"), form.Get("ClientRequestToken")
	if name == "" {
		return nullError("stackName")
	}
	if aerr := validateToken(token); aerr != nil {
		return aerr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.find(name, now, false)
	if s == nil {
		return validationError("Stack [" + name + "] does not exist")
	}
	if s.status != statusUpdateInProgress {
		return validationError("CancelUpdateStack cannot be called from current stack status")
	}
	op := &operation{action: "CancelUpdateStack", token: token, id: f.uuid(), prev: s.snapshot()}
	if upd := s.op; upd != nil && upd.action == "UpdateStack" {
		op.script, op.prev = upd.script, upd.prev
	}
	s.op, s.pending = op, nil
	if token != "" {
		s.tokens = append(s.tokens, token)
	}
	s.restore(op.prev)
	f.setStatus(s, op, now, statusUpdateRollback, reasonUpdateCancelled)
	s.pending = rollbackTail(s, op, nil, op.script, now.Add(op.script.RollbackDelay), reasonUpdateCancelled)
	return nil
}

func (f *CloudFormation) updateTerminationProtection(form url.Values, now time.Time, b *xmlBuf) *apiError {
	name := form.Get("StackName")
	if name == "" {
		return nullError("stackName")
	}
	var enable bool
	switch form.Get("EnableTerminationProtection") {
	case "true":
		enable = true
	case "false":
	default:
		return nullError("enableTerminationProtection")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.find(name, now, false)
	if s == nil {
		return validationError("Stack [" + name + "] does not exist")
	}
	s.protection = enable
	b.text("StackId", s.id)
	return nil
}

// Page tokens are opaque to callers: "s<seq>" resumes a stack listing at
// the stack with that creation number, "e<index>" an event listing below
// that index.
func encodeToken(kind byte, n int64) string {
	return base64.RawURLEncoding.EncodeToString(strconv.AppendInt([]byte{kind}, n, 10))
}

func decodeToken(tok string, kind byte) (int64, *apiError) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err == nil && len(raw) > 1 && raw[0] == kind {
		if n, err := strconv.ParseInt(string(raw[1:]), 10, 64); err == nil && n >= 0 {
			return n, nil
		}
	}
	return 0, validationError("Invalid NextToken")
}

// pageStart returns the index in f.order of the first stack a listing
// resumes at.
func (f *CloudFormation) pageStart(form url.Values) (int, *apiError) {
	tok := form.Get("NextToken")
	if tok == "" {
		return 0, nil
	}
	seq, aerr := decodeToken(tok, 's')
	if aerr != nil {
		return 0, aerr
	}
	return sort.Search(len(f.order), func(i int) bool { return f.order[i].seq >= seq }), nil
}

func (f *CloudFormation) describeStacks(form url.Values, now time.Time, b *xmlBuf) *apiError {
	name := form.Get("StackName")
	f.mu.Lock()
	defer f.mu.Unlock()
	if name != "" {
		s := f.find(name, now, true)
		if s == nil {
			return validationError("Stack with id " + name + " does not exist")
		}
		b.open("Stacks")
		writeStack(b, s)
		b.close("Stacks")
		return nil
	}
	i, aerr := f.pageStart(form)
	if aerr != nil {
		return aerr
	}
	b.open("Stacks")
	for n := 0; i < len(f.order) && n < f.opts.PageSize; i++ {
		s := f.order[i]
		f.advance(s, now)
		if s.status != statusDeleteComplete {
			writeStack(b, s)
			n++
		}
	}
	b.close("Stacks")
	if i < len(f.order) {
		b.text("NextToken", encodeToken('s', f.order[i].seq))
	}
	return nil
}

func (f *CloudFormation) listStacks(form url.Values, now time.Time, b *xmlBuf) *apiError {
	var filter map[string]bool
	for _, st := range listValues(form, "StackStatusFilter") {
		if !statuses[st] {
			return validationError("1 validation error detected: Value '" + st + "' at 'stackStatusFilter' failed to satisfy constraint: Member must satisfy enum value set")
		}
		if filter == nil {
			filter = map[string]bool{}
		}
		filter[st] = true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	i, aerr := f.pageStart(form)
	if aerr != nil {
		return aerr
	}
	b.open("StackSummaries")
	for n := 0; i < len(f.order) && n < f.opts.PageSize; i++ {
		s := f.order[i]
		f.advance(s, now)
		if filter != nil && !filter[s.status] {
			continue
		}
		n++
		b.open("member")
		b.text("StackId", s.id)
		b.text("StackName", s.name)
		b.time("CreationTime", s.created)
		b.time("LastUpdatedTime", s.updated)
		b.time("DeletionTime", s.deleted)
		b.text("StackStatus", s.status)
		b.text("StackStatusReason", s.reason)
		b.WriteString("<DriftInformation><StackDriftStatus>NOT_CHECKED</StackDriftStatus></DriftInformation>")
		b.close("member")
	}
	b.close("StackSummaries")
	if i < len(f.order) {
		b.text("NextToken", encodeToken('s', f.order[i].seq))
	}
	return nil
}

func (f *CloudFormation) describeStackEvents(form url.Values, now time.Time, b *xmlBuf) *apiError {
	name := form.Get("StackName")
	if name == "" {
		return nullError("stackName")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.find(name, now, true)
	if s == nil {
		return validationError("Stack [" + name + "] does not exist")
	}
	hi := len(s.events)
	if tok := form.Get("NextToken"); tok != "" {
		n, aerr := decodeToken(tok, 'e')
		if aerr != nil || n > int64(hi) {
			return validationError("Invalid NextToken")
		}
		hi = int(n)
	}
	lo := max(0, hi-f.opts.PageSize)
	b.open("StackEvents")
	for i := hi - 1; i >= lo; i-- {
		e := &s.events[i]
		b.open("member")
		b.text("StackId", s.id)
		b.text("EventId", e.id)
		b.text("StackName", s.name)
		b.text("LogicalResourceId", e.logicalID)
		b.text("PhysicalResourceId", e.physicalID)
		b.text("ResourceType", e.typ)
		b.time("Timestamp", e.at)
		b.text("ResourceStatus", e.status)
		b.text("ResourceStatusReason", e.reason)
		b.text("ClientRequestToken", e.token)
		b.text("OperationId", e.opID)
		b.close("member")
	}
	b.close("StackEvents")
	if lo > 0 {
		b.text("NextToken", encodeToken('e', int64(lo)))
	}
	return nil
}

// writeStack writes s as a Stacks member.
func writeStack(b *xmlBuf, s *stack) {
	b.open("member")
	b.text("StackId", s.id)
	b.text("StackName", s.name)
	if len(s.params) > 0 {
		b.open("Parameters")
		for _, k := range sortedKeys(s.params) {
			b.open("member")
			b.text("ParameterKey", k)
			b.open("ParameterValue")
			b.escape(s.params[k])
			b.close("ParameterValue")
			b.close("member")
		}
		b.close("Parameters")
	}
	b.time("CreationTime", s.created)
	b.time("LastUpdatedTime", s.updated)
	b.time("DeletionTime", s.deleted)
	b.text("StackStatus", s.status)
	b.text("StackStatusReason", s.reason)
	b.boolean("DisableRollback", s.disableRollback)
	if s.timeout > 0 {
		b.text("TimeoutInMinutes", strconv.Itoa(int(s.timeout)))
	}
	if len(s.caps) > 0 {
		b.open("Capabilities")
		for _, c := range s.caps {
			b.text("member", c)
		}
		b.close("Capabilities")
	}
	if len(s.outputs) > 0 {
		b.open("Outputs")
		for _, k := range sortedKeys(s.outputs) {
			b.open("member")
			b.text("OutputKey", k)
			b.open("OutputValue")
			b.escape(s.outputs[k])
			b.close("OutputValue")
			b.close("member")
		}
		b.close("Outputs")
	}
	b.text("RoleARN", s.roleARN)
	if len(s.tags) > 0 {
		b.open("Tags")
		for _, t := range s.tags {
			b.open("member")
			b.text("Key", t.key)
			b.open("Value")
			b.escape(t.value)
			b.close("Value")
			b.close("member")
		}
		b.close("Tags")
	}
	b.boolean("EnableTerminationProtection", s.protection)
	b.WriteString("<DriftInformation><StackDriftStatus>NOT_CHECKED</StackDriftStatus></DriftInformation>")
	b.close("member")
}
