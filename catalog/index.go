package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// ErrUnknownPlan is returned (wrapped) by [Index.ValidateParameters] for a
// plan ID the Index does not hold.
var ErrUnknownPlan = errors.New("catalog: unknown plan")

// Index is a validated Catalog with O(1) lookups by ID and compiled
// parameter schemas. It is immutable and safe for concurrent use.
//
// The zero Index holds an empty catalog: lookups find nothing.
type Index struct {
	catalog  *Catalog
	services map[string]*Service
	plans    map[string]indexedPlan
}

// indexedPlan is one plan of the Index with its service and its compiled
// schemas.
type indexedPlan struct {
	service *Service
	plan    *Plan
	schemas compiledPlan
}

// NewIndex validates c (as [Catalog.Validate] does, returning the same
// [ValidationErrors]) and indexes a deep copy of it, so later changes to c
// do not affect the Index. Every parameter schema is compiled here, once.
func NewIndex(c Catalog) (*Index, error) {
	// Validate before copying: the copy would not terminate on cyclic
	// metadata, which check rejects. The compiled schemas do not refer to
	// c's maps, and the copy has the same shape as c.
	compiled, err := check(&c)
	if err != nil {
		return nil, err
	}
	cp := deepCopy(&c)
	x := &Index{
		catalog:  &cp,
		services: make(map[string]*Service, len(cp.Services)),
		plans:    map[string]indexedPlan{},
	}
	for i := range cp.Services {
		s := &cp.Services[i]
		x.services[s.ID] = s
		for j := range s.Plans {
			x.plans[s.Plans[j].ID] = indexedPlan{service: s, plan: &s.Plans[j], schemas: compiled[i][j]}
		}
	}
	return x, nil
}

// Catalog returns the indexed copy of the catalog, to serve on
// GET /v2/catalog. Its Services is never nil, so it encodes as
// {"services":[]} when empty. Callers must not modify it.
func (x *Index) Catalog() *Catalog {
	if x.catalog == nil {
		return &Catalog{Services: []Service{}}
	}
	return x.catalog
}

// Service returns the service with the given id. Callers must not modify
// it.
func (x *Index) Service(id string) (*Service, bool) {
	s, ok := x.services[id]
	return s, ok
}

// Plan returns the plan with the given id (plan ids are unique across the
// catalog) and the service it belongs to. Callers must not modify them.
func (x *Index) Plan(id string) (*Service, *Plan, bool) {
	p, ok := x.plans[id]
	if !ok {
		return nil, nil, false
	}
	return p.service, p.plan, true
}

// SchemaKind names one of a plan's three schemas.
type SchemaKind int

// The schemas of a plan.
const (
	// InstanceCreate is schemas.service_instance.create, for provisioning.
	InstanceCreate SchemaKind = iota + 1
	// InstanceUpdate is schemas.service_instance.update, for updates.
	InstanceUpdate
	// BindingCreate is schemas.service_binding.create, for binding.
	BindingCreate
)

// String returns the schema's place in the catalog, such as
// "service_instance.create".
func (k SchemaKind) String() string {
	switch k {
	case InstanceCreate:
		return "service_instance.create"
	case InstanceUpdate:
		return "service_instance.update"
	case BindingCreate:
		return "service_binding.create"
	}
	return "SchemaKind(" + strconv.Itoa(int(k)) + ")"
}

// ValidateParameters checks params, the raw "parameters" member of a
// provision, update or bind request, against the schema of kind k of the
// plan planID.
//
// Absent parameters (nil, empty or only white space, or JSON null) are
// valid and are not checked against the schema, because the spec makes
// "parameters" optional: a schema's "required" list constrains only
// parameters that are sent. Present parameters must be a JSON object; a
// plan without a schema of that kind accepts any object. Numbers are
// compared exactly, however large. "format" is asserted in every draft.
//
// The error is a *[ParameterError] when params are invalid, an error
// wrapping [ErrUnknownPlan] when the Index has no such plan, and another
// error for an invalid k. Parameter values can be secrets, so no error
// ever quotes them.
func (x *Index) ValidateParameters(planID string, k SchemaKind, params json.RawMessage) error {
	p, ok := x.plans[planID]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownPlan, planID)
	}
	if k < InstanceCreate || k > BindingCreate {
		return fmt.Errorf("catalog: invalid schema kind %d", int(k))
	}
	trimmed := bytes.TrimSpace(params)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(trimmed))
	if err != nil {
		// The decoder's message can quote the input, so it is dropped.
		return &ParameterError{Kind: k, Problems: []ParameterProblem{{Message: "is not valid JSON"}}}
	}
	if _, ok := doc.(map[string]any); !ok {
		return &ParameterError{Kind: k, Problems: []ParameterProblem{{Message: "must be object, got " + jsonType(doc)}}}
	}
	sch := p.schemas[k-1]
	if sch == nil {
		return nil
	}
	err = sch.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		// Validate returns nothing else; never pass its text on.
		return &ParameterError{Kind: k, Problems: []ParameterProblem{{Message: "fails the schema"}}}
	}
	return &ParameterError{Kind: k, Problems: problemsOf(ve, doc)}
}
