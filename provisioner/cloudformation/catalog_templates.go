package cloudformation

import (
	"maps"
	"slices"

	"github.com/brokerkit/brokerkit/catalog"
)

// TemplatesFrom returns the templates of ts, the result of
// [catalog.LoadTemplates], as a [TemplateSource] keyed by plan ID: each
// plan's body, template ID, declared parameters (type and NoEcho), fixed
// parameters, the plan's defaults (ParameterDefaults) and capabilities.
// The result shares no memory with ts. A nil ts gives an empty
// StaticTemplates.
func TemplatesFrom(ts *catalog.TemplateSet) StaticTemplates {
	if ts == nil {
		return StaticTemplates{}
	}
	out := make(StaticTemplates, len(ts.Templates))
	for planID, t := range ts.Templates {
		if t == nil {
			continue
		}
		params := make(map[string]ParameterSpec, len(t.Parameters))
		for name, p := range t.Parameters {
			params[name] = ParameterSpec{Type: p.Type, NoEcho: p.NoEcho}
		}
		out[planID] = Template{
			ID:                t.ID,
			Body:              t.Body,
			Parameters:        params,
			FixedParameters:   maps.Clone(t.FixedParameters),
			DefaultParameters: maps.Clone(t.DefaultParameters),
			Capabilities:      slices.Clone(t.Capabilities),
		}
	}
	return out
}
