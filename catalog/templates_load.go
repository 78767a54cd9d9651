package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// specPath is the path of the AWS Service Broker's specification.
const specPath = "Metadata.AWS::ServiceBroker::Specification"

// interfacePath is the path of the console's parameter metadata.
const interfacePath = "Metadata.AWS::CloudFormation::Interface"

// fileLoader reads one template file, collecting its problems.
type fileLoader struct {
	file string
	// defaultMapping is TemplateOptions.Mapping.
	defaultMapping string
	// targetParameters is TemplateOptions.TargetParameters.
	targetParameters bool
	errs             []*TemplateError
	warnings         []string
	// broken are parameters whose declaration has errors: other fields
	// that name them are not reported again.
	broken map[string]bool
}

func (l *fileLoader) errorf(field, format string, args ...any) {
	l.errs = append(l.errs, &TemplateError{File: l.file, Field: field, Message: fmt.Sprintf(format, args...)})
}

func (l *fileLoader) warnf(field, format string, args ...any) {
	e := &TemplateError{File: l.file, Field: field, Message: fmt.Sprintf(format, args...)}
	l.warnings = append(l.warnings, e.Error())
}

// parsedFile is one loaded template: its service (without IDs) and the
// Template of each plan, indexed like service.Plans.
type parsedFile struct {
	file      string
	service   Service
	templates []*Template
	// bindingPath is the specification's BindingTemplate, or "", and
	// outputs the names of the template's outputs, which the binding
	// template's parameters must be.
	bindingPath string
	outputs     []string
	// binding is the binding template, once loaded.
	binding *bindingTemplate
}

// load reads a template file. It returns nil when the file has problems
// that leave nothing to build.
func (l *fileLoader) load(data []byte, isJSON, bindable bool) *parsedFile {
	if len(data) > maxTemplateBody {
		l.errorf("", "the template is %d bytes, more than the %d CloudFormation accepts as a template body", len(data), maxTemplateBody)
	}
	root, err := parseTemplateBody(data, isJSON)
	if err != nil {
		l.errorf("", "%s", err.Error())
		return nil
	}
	if root.kind != tMap {
		l.errorf("", "a template must be a mapping, not %s", root.describe())
		return nil
	}
	meta := l.mapping(root, "Metadata", "Metadata", false)
	spec := l.mapping(meta, "AWS::ServiceBroker::Specification", specPath, false)
	if spec == nil {
		if len(l.errs) == 0 {
			if meta.get("AWS::ServiceBroker::Specification") != nil {
				l.errorf(specPath, "must not be empty")
			} else {
				l.errorf(specPath, "missing: this is not an AWS Service Broker template")
			}
		}
		return nil
	}

	params, order := l.parameters(root)
	l.interfaceMetadata(meta, params)
	caps := l.capabilities(root)
	var outputs []string
	if outs := l.mapping(root, "Outputs", "Outputs", false); outs != nil {
		outputs = slices.Clone(outs.keys)
	}

	svc, plans := l.spec(root, spec, params)
	if svc == nil {
		return nil
	}
	svc.Bindable = bindable

	var updatable []string
	if u := spec.get("UpdatableParameters"); u != nil {
		for i, name := range l.strings(u, specPath+".UpdatableParameters") {
			if _, ok := params[name]; !ok {
				if !l.broken[name] {
					l.errorf(fmt.Sprintf("%s.UpdatableParameters[%d]", specPath, i), "%q is not a template parameter", name)
				}
				continue
			}
			updatable = append(updatable, name)
		}
	}
	outputsAsIs := false
	if n := spec.get("OutputsAsIs"); n != nil {
		outputsAsIs = l.boolean(n, specPath+".OutputsAsIs")
	}
	svc.Credentials = l.credentials(spec, outputsAsIs)
	bindingPath := l.optString(spec, "BindingTemplate", bindingField)
	if len(l.errs) > 0 {
		return nil
	}

	body := string(data)
	sum := sha256.Sum256(data)
	id := "sha256:" + hex.EncodeToString(sum[:])
	pf := &parsedFile{file: l.file, service: *svc, bindingPath: bindingPath, outputs: outputs}
	for i := range plans {
		pp := &plans[i]
		plan := &pf.service.Plans[i]
		create := createSchema(params, order, pp.fixed, pp.defaults)
		if l.targetParameters {
			addTargetParameters(create)
		}
		plan.Schemas = &Schemas{ServiceInstance: &ServiceInstanceSchemas{
			Create: &InputParameters{Parameters: create},
			Update: &InputParameters{Parameters: updateSchema(params, order, pp.fixed, updatable)},
		}}
		t := &Template{
			File:              l.file,
			ServiceName:       svc.Name,
			PlanName:          plan.Name,
			Body:              body,
			ID:                id,
			Parameters:        make(map[string]TemplateParameter, len(params)),
			FixedParameters:   maps.Clone(pp.fixed),
			DefaultParameters: maps.Clone(pp.defaults),
			Capabilities:      slices.Clone(caps),
			Outputs:           slices.Clone(outputs),
			OutputsAsIs:       outputsAsIs,
		}
		for name, p := range params {
			t.Parameters[name] = p.public()
		}
		for _, name := range updatable {
			if _, fixed := pp.fixed[name]; !fixed {
				t.UpdatableParameters = append(t.UpdatableParameters, name)
			}
		}
		pf.templates = append(pf.templates, t)
	}
	return pf
}

// mapping returns the mapping under key in n, or nil when it is absent
// (an error if required) or not a mapping (an error).
func (l *fileLoader) mapping(n *tnode, key, field string, required bool) *tnode {
	v := n.get(key)
	switch {
	case v == nil:
		if required {
			l.errorf(field, "missing")
		}
		return nil
	case v.kind == tNull:
		if required {
			l.errorf(field, "must not be empty")
		}
		return nil
	case v.kind != tMap || (len(v.keys) == 1 && isIntrinsic(v.keys[0])):
		l.errorf(field, "must be a mapping, not %s", v.describe())
		return nil
	}
	return v
}

// scalar returns the text of a scalar, or reports n and returns false.
func (l *fileLoader) scalar(n *tnode, field string) (string, bool) {
	if n == nil || n.kind != tScalar {
		l.errorf(field, "must be a plain value, not %s", n.describe())
		return "", false
	}
	return n.value, true
}

// optString returns the text of an optional scalar field of n.
func (l *fileLoader) optString(n *tnode, key, field string) string {
	v := n.get(key)
	if v == nil || v.kind == tNull {
		return ""
	}
	s, _ := l.scalar(v, field)
	return s
}

// strings returns the scalars of a list.
func (l *fileLoader) strings(n *tnode, field string) []string {
	if n.kind == tNull {
		return nil
	}
	if n.kind != tSeq {
		l.errorf(field, "must be a list, not %s", n.describe())
		return nil
	}
	out := make([]string, 0, len(n.items))
	for i, it := range n.items {
		if s, ok := l.scalar(it, fmt.Sprintf("%s[%d]", field, i)); ok {
			out = append(out, s)
		}
	}
	return out
}

// boolean reads a CloudFormation boolean: true or false in any case,
// quoted or not.
func (l *fileLoader) boolean(n *tnode, field string) bool {
	s, ok := l.scalar(n, field)
	if !ok {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return true
	case "false":
		return false
	}
	l.errorf(field, "must be true or false, not %q", s)
	return false
}

// interfaceMetadata applies the AWS::CloudFormation::Interface labels and
// groups to params.
func (l *fileLoader) interfaceMetadata(meta *tnode, params map[string]*tparam) {
	iface := l.mapping(meta, "AWS::CloudFormation::Interface", interfacePath, false)
	if iface == nil {
		return
	}
	if labels := l.mapping(iface, "ParameterLabels", interfacePath+".ParameterLabels", false); labels != nil {
		for i, name := range labels.keys {
			field := interfacePath + ".ParameterLabels." + name
			v := labels.vals[i]
			if v.kind != tMap {
				l.errorf(field, "must be a mapping with the key \"default\", not %s", v.describe())
				continue
			}
			label := l.optString(v, "default", field+".default")
			if p, ok := params[name]; ok {
				p.Label = label
			} else {
				l.warnf(field, "labels %q, which is not a template parameter", name)
			}
		}
	}
	groups := iface.get("ParameterGroups")
	if groups == nil || groups.kind == tNull {
		return
	}
	if groups.kind != tSeq {
		l.errorf(interfacePath+".ParameterGroups", "must be a list, not %s", groups.describe())
		return
	}
	for i, g := range groups.items {
		field := fmt.Sprintf("%s.ParameterGroups[%d]", interfacePath, i)
		if g.kind != tMap {
			l.errorf(field, "must be a mapping, not %s", g.describe())
			continue
		}
		label := ""
		if lb := l.mapping(g, "Label", field+".Label", false); lb != nil {
			label = l.optString(lb, "default", field+".Label.default")
		}
		ps := g.get("Parameters")
		if ps == nil {
			continue
		}
		for j, name := range l.strings(ps, field+".Parameters") {
			p, ok := params[name]
			switch {
			case !ok:
				l.warnf(fmt.Sprintf("%s.Parameters[%d]", field, j), "lists %q, which is not a template parameter", name)
			case p.Group == "":
				p.Group = label
			}
		}
	}
}

// iamNameProperties are the properties that give an IAM resource a custom
// name, which needs CAPABILITY_NAMED_IAM.
var iamNameProperties = []string{"UserName", "RoleName", "GroupName", "ManagedPolicyName", "InstanceProfileName"}

// capabilities returns the capabilities the template needs.
func (l *fileLoader) capabilities(root *tnode) []string {
	res := l.mapping(root, "Resources", "Resources", true)
	iam, named := false, false
	if res != nil {
		for i, name := range res.keys {
			r := res.vals[i]
			field := "Resources." + name
			if r.kind != tMap {
				l.errorf(field, "must be a mapping, not %s", r.describe())
				continue
			}
			typ := l.optString(r, "Type", field+".Type")
			if typ == "" {
				l.errorf(field+".Type", "missing")
				continue
			}
			if !strings.HasPrefix(typ, "AWS::IAM::") {
				continue
			}
			iam = true
			if props := r.get("Properties"); props != nil && props.kind == tMap {
				for _, p := range iamNameProperties {
					if props.get(p) != nil {
						named = true
					}
				}
			}
		}
	}
	var caps []string
	switch {
	case named:
		caps = append(caps, "CAPABILITY_NAMED_IAM")
	case iam:
		caps = append(caps, "CAPABILITY_IAM")
	}
	if root.get("Transform") != nil || hasKey(root, "Fn::Transform") {
		caps = append(caps, "CAPABILITY_AUTO_EXPAND")
	}
	return caps
}

// hasKey reports whether any mapping in n has key.
func hasKey(n *tnode, key string) bool {
	if n == nil {
		return false
	}
	for i, k := range n.keys {
		if k == key || hasKey(n.vals[i], key) {
			return true
		}
	}
	for _, it := range n.items {
		if hasKey(it, key) {
			return true
		}
	}
	return false
}

// parsedPlan is what a plan fixes and defaults.
type parsedPlan struct {
	fixed, defaults map[string]string
}

// Keys of the specification and of its plans.
var (
	specKeys = []string{"Name", "DisplayName", "LongDescription", "ImageUrl", "DocumentationUrl",
		"ProviderDisplayName", "SupportUrl", "Tags", "ServicePlans", "UpdatableParameters", "OutputsAsIs",
		// brokerkit's own.
		"Credentials", "BindingTemplate",
		// The AWS Service Broker's, ignored: Version is the
		// specification's own version; Bindings drove its packaging tool,
		// which wrote the resulting IAM resources into the template.
		"Version", "Bindings", "CloudFoundry", "BindViaLambda"}
	planKeys = []string{"DisplayName", "Description", "LongDescription", "Cost", "Costs", "Bullets",
		"ParameterValues", "ParameterDefaults"}
)

// qsTag is the AWS Quick Start tag at the end of the AWS Service Broker's
// template descriptions.
var qsTag = regexp.MustCompile(`\s*\(qs-[a-z0-9]{9}\)`)

// spec reads the specification into a service without IDs and its plans.
func (l *fileLoader) spec(root, spec *tnode, params map[string]*tparam) (*Service, []parsedPlan) {
	for _, k := range spec.keys {
		if !slices.Contains(specKeys, k) {
			l.warnf(specPath+"."+k, "unknown key, ignored")
		}
	}
	for _, k := range []string{"CloudFoundry", "BindViaLambda"} {
		if n := spec.get(k); n != nil && l.boolean(n, specPath+"."+k) {
			l.warnf(specPath+"."+k, "the AWS Service Broker's %s mode is not supported, ignored", k)
		}
	}
	svc := &Service{}
	raw := l.optString(spec, "Name", specPath+".Name")
	if raw == "" {
		if spec.get("Name") == nil {
			l.errorf(specPath+".Name", "missing")
		} else {
			l.errorf(specPath+".Name", "must not be empty")
		}
	} else {
		svc.Name = l.osbName(raw, specPath+".Name", "service")
	}
	display := l.optString(spec, "DisplayName", specPath+".DisplayName")
	desc := strings.TrimSpace(qsTag.ReplaceAllString(l.optString(root, "Description", "Description"), ""))
	if desc == "" {
		desc = display
	}
	if desc == "" {
		l.errorf("Description", "missing, and so is %s.DisplayName: a service needs a description", specPath)
	}
	svc.Description = desc
	if t := spec.get("Tags"); t != nil {
		svc.Tags = l.strings(t, specPath+".Tags")
		if len(svc.Tags) == 0 {
			svc.Tags = nil
		}
	}
	md := map[string]any{}
	for _, f := range [][2]string{
		{"DisplayName", "displayName"},
		{"ImageUrl", "imageUrl"},
		{"LongDescription", "longDescription"},
		{"ProviderDisplayName", "providerDisplayName"},
		{"DocumentationUrl", "documentationUrl"},
		{"SupportUrl", "supportUrl"},
	} {
		if v := l.optString(spec, f[0], specPath+"."+f[0]); v != "" {
			md[f[1]] = v
		}
	}
	if len(md) > 0 {
		svc.Metadata = md
	}

	plansNode := l.mapping(spec, "ServicePlans", specPath+".ServicePlans", true)
	if plansNode == nil {
		return nil, nil
	}
	if len(plansNode.keys) == 0 {
		l.errorf(specPath+".ServicePlans", "must list at least one plan")
		return nil, nil
	}
	var plans []parsedPlan
	names := map[string]string{}
	for i, key := range plansNode.keys {
		field := specPath + ".ServicePlans." + key
		pn := plansNode.vals[i]
		if pn.kind != tMap {
			l.errorf(field, "must be a mapping, not %s", pn.describe())
			continue
		}
		plan, pp := l.plan(key, field, pn, params)
		if first, ok := names[plan.Name]; ok && plan.Name != "" {
			l.errorf(field, "plan name %q is also the name of plan %q", plan.Name, first)
		}
		names[plan.Name] = key
		svc.Plans = append(svc.Plans, plan)
		plans = append(plans, pp)
	}
	return svc, plans
}

// plan reads one plan of the specification.
func (l *fileLoader) plan(key, field string, pn *tnode, params map[string]*tparam) (Plan, parsedPlan) {
	for _, k := range pn.keys {
		if !slices.Contains(planKeys, k) {
			l.warnf(field+"."+k, "unknown key, ignored")
		}
	}
	plan := Plan{Name: l.osbName(key, field, "plan"), Free: Bool(false)}
	plan.Description = l.optString(pn, "Description", field+".Description")
	if plan.Description == "" {
		l.errorf(field+".Description", "missing: a plan needs a description")
	}
	md := map[string]any{}
	if v := l.optString(pn, "DisplayName", field+".DisplayName"); v != "" {
		md["displayName"] = v
	}
	if v := l.optString(pn, "LongDescription", field+".LongDescription"); v != "" {
		md["longDescription"] = v
	}
	if b := pn.get("Bullets"); b != nil {
		if bs := l.strings(b, field+".Bullets"); len(bs) > 0 {
			bullets := make([]any, len(bs))
			for i, s := range bs {
				bullets[i] = s
			}
			md["bullets"] = bullets
		}
	}
	if v := l.optString(pn, "Cost", field+".Cost"); v != "" {
		if u, err := url.Parse(v); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			md["costUrl"] = v
		} else {
			md["cost"] = v
		}
	}
	if c := pn.get("Costs"); c != nil {
		if costs := l.costs(c, field+".Costs"); len(costs) > 0 {
			md["costs"] = costs
		}
	}
	if len(md) > 0 {
		plan.Metadata = md
	}

	pp := parsedPlan{
		fixed:    l.planValues(pn, "ParameterValues", field, params),
		defaults: l.planValues(pn, "ParameterDefaults", field, params),
	}
	for _, name := range sortedKeys(pp.defaults) {
		if _, fixed := pp.fixed[name]; fixed {
			l.errorf(field+".ParameterDefaults."+name, "the plan also fixes this parameter in ParameterValues")
		}
	}
	return plan, pp
}

// planValues reads ParameterValues or ParameterDefaults: values of
// template parameters, checked against their types and constraints.
func (l *fileLoader) planValues(pn *tnode, key, field string, params map[string]*tparam) map[string]string {
	m := l.mapping(pn, key, field+"."+key, false)
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m.keys))
	for i, name := range m.keys {
		f := field + "." + key + "." + name
		p, ok := params[name]
		if !ok {
			if !l.broken[name] {
				l.errorf(f, "not a template parameter")
			}
			continue
		}
		v, ok := l.scalar(m.vals[i], f)
		if !ok {
			continue
		}
		if msg := p.check(v); msg != "" {
			l.errorf(f, "%s", msg)
			continue
		}
		out[name] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// costs reads the structured Costs of a plan: a list of {Amount:
// {currency: number}, Unit: text}, keys in either case.
func (l *fileLoader) costs(n *tnode, field string) []any {
	if n.kind != tSeq {
		l.errorf(field, "must be a list, not %s", n.describe())
		return nil
	}
	var out []any
	for i, c := range n.items {
		f := fmt.Sprintf("%s[%d]", field, i)
		if c.kind != tMap {
			l.errorf(f, "must be a mapping with Amount and Unit, not %s", c.describe())
			continue
		}
		amountKey, unitKey := "Amount", "Unit"
		if c.get(amountKey) == nil && c.get("amount") != nil {
			amountKey = "amount"
		}
		if c.get(unitKey) == nil && c.get("unit") != nil {
			unitKey = "unit"
		}
		for _, k := range c.keys {
			if k != amountKey && k != unitKey {
				l.errorf(f+"."+k, "unknown key (a cost has Amount and Unit)")
			}
		}
		am := l.mapping(c, amountKey, f+"."+amountKey, true)
		unit := l.optString(c, unitKey, f+"."+unitKey)
		if unit == "" {
			l.errorf(f+"."+unitKey, "missing")
		}
		if am == nil {
			continue
		}
		amount := map[string]any{}
		for j, cur := range am.keys {
			af := f + "." + amountKey + "." + cur
			s, ok := l.scalar(am.vals[j], af)
			if !ok {
				continue
			}
			num, _, ok := parseNumber(s)
			if !ok {
				l.errorf(af, "%q is not a number", s)
				continue
			}
			amount[cur] = num
		}
		if len(am.keys) == 0 {
			l.errorf(f+"."+amountKey, "must give at least one currency")
			continue
		}
		out = append(out, map[string]any{"amount": amount, "unit": unit})
	}
	return out
}

// osbName makes a specification name CLI-friendly: each run of other
// characters than letters, digits, periods and hyphens becomes one
// hyphen, and hyphens at the ends are dropped.
func (l *fileLoader) osbName(raw, field, what string) string {
	if cliFriendly(raw) {
		return raw
	}
	var b strings.Builder
	dash := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '-' {
			b.WriteByte(c)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	name := strings.Trim(b.String(), "-")
	if name == "" {
		l.errorf(field, "%q has no letters or digits to make a CLI-friendly %s name of", raw, what)
		return ""
	}
	l.warnf(field, "%q is not CLI-friendly; the %s is named %q", raw, what, name)
	return name
}
