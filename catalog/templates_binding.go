package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// bindingField is the specification key that names a service's binding
// template.
const bindingField = specPath + ".BindingTemplate"

// bindingTemplate is a loaded binding template and its parameters.
type bindingTemplate struct {
	t      Template
	params map[string]*tparam
}

// loadBinding reads the binding template at name, a path in fsys named
// by the specification of the service template file, whose outputs are
// outputs. It returns the template (nil when it has problems), the
// problems and the warnings. Problems of the reference name file; those
// inside the binding template name it.
func loadBinding(fsys fs.FS, file, name string, outputs []string) (*bindingTemplate, []*TemplateError, []string) {
	refErr := func(format string, args ...any) (*bindingTemplate, []*TemplateError, []string) {
		return nil, []*TemplateError{{File: file, Field: bindingField, Message: fmt.Sprintf(format, args...)}}, nil
	}
	ext := strings.ToLower(path.Ext(name))
	switch {
	case !fs.ValidPath(name) || name == ".":
		return refErr("%q is not a path inside the templates directory (slash-separated and relative, without \".\" or \"..\" elements)", name)
	case ext != ".yaml" && ext != ".yml" && ext != ".json":
		return refErr("%q is not a *.yaml, *.yml or *.json file", name)
	}
	data, err := fs.ReadFile(fsys, name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return refErr("%q does not exist in the templates directory", name)
	case err != nil:
		return refErr("reading %q: %v", name, err)
	}

	l := &fileLoader{file: name, broken: map[string]bool{}}
	if len(data) > maxTemplateBody {
		l.errorf("", "the template is %d bytes, more than the %d CloudFormation accepts as a template body", len(data), maxTemplateBody)
	}
	root, err := parseTemplateBody(data, ext == ".json")
	if err != nil {
		l.errorf("", "%s", err.Error())
		return nil, l.errs, nil
	}
	if root.kind != tMap {
		l.errorf("", "a template must be a mapping, not %s", root.describe())
		return nil, l.errs, nil
	}
	params, order := l.parameters(root)
	caps := l.capabilities(root)
	var outs []string
	if o := l.mapping(root, "Outputs", "Outputs", false); o != nil {
		outs = slices.Clone(o.keys)
	}
	for _, p := range order {
		if !slices.Contains(outputs, p) {
			l.errorf("Parameters."+p, "not an output of %s's template: a binding template's parameters are filled from the instance's outputs (%s)",
				file, strings.Join(outputs, ", "))
		}
	}
	if meta := root.get("Metadata"); meta != nil && meta.get("AWS::ServiceBroker::Specification") != nil {
		l.warnf(specPath, "a binding template is not a service: its specification is ignored")
	}
	if len(l.errs) > 0 {
		return nil, l.errs, l.warnings
	}
	sum := sha256.Sum256(data)
	return &bindingTemplate{t: Template{
		File:         name,
		Body:         string(data),
		ID:           "sha256:" + hex.EncodeToString(sum[:]),
		Capabilities: caps,
		Outputs:      outs,
	}, params: params}, nil, l.warnings
}

// forPlan returns the binding template of the plan planName of the
// service serviceName, sharing no memory with b's other plans' but the
// Body.
func (b *bindingTemplate) forPlan(serviceName, planName string) *Template {
	t := b.t
	t.ServiceName, t.PlanName = serviceName, planName
	t.Parameters = make(map[string]TemplateParameter, len(b.params))
	for n, p := range b.params {
		t.Parameters[n] = p.public()
	}
	t.Capabilities = slices.Clone(b.t.Capabilities)
	t.Outputs = slices.Clone(b.t.Outputs)
	return &t
}
