package catalog

import (
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// templateSchemaDraft is the JSON Schema draft of the schemas derived from
// templates: draft-07 is the first with "writeOnly".
const templateSchemaDraft = "http://json-schema.org/draft-07/schema#"

// pkind is the JSON shape of a parameter's value.
type pkind int

const (
	pString pkind = iota
	pNumber
	pList
)

// tparam is a template parameter as the loader uses it.
type tparam struct {
	TemplateParameter
	kind    pkind          // the value's shape
	item    pkind          // for pList: pString or pNumber
	re      *regexp.Regexp // AllowedPattern, anchored; nil when unset or not RE2
	allowed []string       // AllowedValues as written
	defText *string        // Default as written
	minVal  *big.Rat
	maxVal  *big.Rat
}

// parameterKeys are the properties CloudFormation allows on a parameter.
var parameterKeys = []string{"Type", "Default", "Description", "NoEcho", "AllowedValues", "AllowedPattern",
	"MinLength", "MaxLength", "MinValue", "MaxValue", "ConstraintDescription"}

// classify returns the shape of a CloudFormation parameter type's values.
// AWS::SSM::Parameter::Value<…> parameters take the name of an SSM
// parameter, a string, whatever the type of its value.
func classify(typ string) (kind, item pkind, ok bool) {
	switch {
	case typ == "String":
		return pString, pString, true
	case typ == "Number":
		return pNumber, pNumber, true
	case typ == "CommaDelimitedList":
		return pList, pString, true
	case typ == "List<Number>":
		return pList, pNumber, true
	case strings.HasPrefix(typ, "List<AWS::") && strings.HasSuffix(typ, ">"):
		return pList, pString, true
	case strings.HasPrefix(typ, "AWS::") && len(typ) > len("AWS::"):
		return pString, pString, true
	}
	return 0, 0, false
}

// parameters reads the template's Parameters, in template order.
func (l *fileLoader) parameters(root *tnode) (map[string]*tparam, []string) {
	params := map[string]*tparam{}
	pn := l.mapping(root, "Parameters", "Parameters", false)
	if pn == nil {
		return params, nil
	}
	var order []string
	for i, name := range pn.keys {
		field := "Parameters." + name
		n := pn.vals[i]
		if n.kind != tMap {
			l.errorf(field, "must be a mapping, not %s", n.describe())
			l.broken[name] = true
			continue
		}
		if p := l.parameter(n, field); p != nil {
			params[name] = p
			order = append(order, name)
		} else {
			l.broken[name] = true
		}
	}
	return params, order
}

// parameter reads one parameter, or returns nil when it is unusable.
func (l *fileLoader) parameter(n *tnode, field string) *tparam {
	for _, k := range n.keys {
		if !slices.Contains(parameterKeys, k) {
			l.errorf(field+"."+k, "not a parameter property CloudFormation knows")
		}
	}
	p := &tparam{}
	typ := l.optString(n, "Type", field+".Type")
	if typ == "" {
		l.errorf(field+".Type", "missing")
		return nil
	}
	kind, item, ok := classify(typ)
	if !ok {
		l.errorf(field+".Type", "%q is not a CloudFormation parameter type", typ)
		return nil
	}
	p.Type, p.kind, p.item = typ, kind, item
	p.Description = l.optString(n, "Description", field+".Description")
	p.ConstraintDescription = l.optString(n, "ConstraintDescription", field+".ConstraintDescription")
	if v := n.get("NoEcho"); v != nil {
		p.NoEcho = l.boolean(v, field+".NoEcho")
	}
	// The constraints on one value: the parameter's or, for lists, each
	// item's.
	valueKind := kind
	if kind == pList {
		valueKind = item
	}

	if v := n.get("AllowedPattern"); v != nil {
		if s, ok := l.scalar(v, field+".AllowedPattern"); ok {
			p.AllowedPattern = s
			if valueKind == pNumber {
				l.warnf(field+".AllowedPattern", "applies to strings only, ignored")
			} else if re, err := regexp.Compile(anchor(s)); err != nil {
				l.warnf(field+".AllowedPattern", "is not RE2 syntax (%s), so it is left out of the schema; CloudFormation still checks it", oneLine(err.Error()))
			} else {
				p.re = re
			}
		}
	}
	for _, k := range []string{"MinLength", "MaxLength"} {
		v := n.get(k)
		if v == nil {
			continue
		}
		s, ok := l.scalar(v, field+"."+k)
		if !ok {
			continue
		}
		_, r, ok := parseNumber(s)
		if !ok || !r.IsInt() || r.Sign() < 0 || r.Num().BitLen() > 31 {
			l.errorf(field+"."+k, "%q is not a non-negative integer", s)
			continue
		}
		if valueKind == pNumber {
			l.warnf(field+"."+k, "applies to strings only, ignored")
			continue
		}
		i := int(r.Num().Int64())
		if k == "MinLength" {
			p.MinLength = &i
		} else {
			p.MaxLength = &i
		}
	}
	for _, k := range []string{"MinValue", "MaxValue"} {
		v := n.get(k)
		if v == nil {
			continue
		}
		s, ok := l.scalar(v, field+"."+k)
		if !ok {
			continue
		}
		num, r, ok := parseNumber(s)
		if !ok {
			l.errorf(field+"."+k, "%q is not a number", s)
			continue
		}
		if valueKind != pNumber {
			l.warnf(field+"."+k, "applies to numbers only, ignored")
			continue
		}
		if k == "MinValue" {
			p.MinValue, p.minVal = num, r
		} else {
			p.MaxValue, p.maxVal = num, r
		}
	}
	if p.MinLength != nil && p.MaxLength != nil && *p.MinLength > *p.MaxLength {
		l.errorf(field, "MinLength %d is more than MaxLength %d", *p.MinLength, *p.MaxLength)
	}
	if p.minVal != nil && p.maxVal != nil && p.minVal.Cmp(p.maxVal) > 0 {
		l.errorf(field, "MinValue %s is more than MaxValue %s", p.MinValue, p.MaxValue)
	}
	if v := n.get("AllowedValues"); v != nil {
		vals := l.strings(v, field+".AllowedValues")
		for i, s := range vals {
			if valueKind == pNumber {
				if _, _, ok := parseNumber(s); !ok {
					l.errorf(fmt.Sprintf("%s.AllowedValues[%d]", field, i), "%q is not a number", s)
					continue
				}
			}
			p.allowed = append(p.allowed, s)
			p.AllowedValues = append(p.AllowedValues, itemValue(valueKind, s))
		}
		if len(vals) == 0 && v.kind != tNull {
			l.errorf(field+".AllowedValues", "must not be empty")
		}
	}
	if v := n.get("Default"); v != nil {
		if s, ok := l.scalar(v, field+".Default"); ok {
			if msg := p.check(s); msg != "" {
				l.errorf(field+".Default", "%s", msg)
			} else {
				p.defText = &s
				p.Default = p.jsonValue(s)
			}
		}
	}
	return p
}

// anchor makes a pattern match whole values, as CloudFormation's
// AllowedPattern does.
func anchor(pattern string) string {
	return "^(?:" + pattern + ")$"
}

// listItems splits a list parameter's value; "" has no items.
func listItems(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// check returns what is wrong with v as a value of p, or "".
func (p *tparam) check(v string) string {
	if p.kind != pList {
		return p.checkItem(p.kind, v)
	}
	for i, it := range listItems(v) {
		if msg := p.checkItem(p.item, it); msg != "" {
			return fmt.Sprintf("item %d: %s", i, msg)
		}
	}
	return ""
}

// checkItem checks one scalar value of shape k against p's constraints.
// Values of NoEcho parameters are never quoted.
func (p *tparam) checkItem(k pkind, v string) string {
	show := strconv.Quote(v)
	if p.NoEcho {
		show = "the value"
	}
	if k == pNumber {
		_, r, ok := parseNumber(v)
		if !ok {
			return show + " is not a number"
		}
		if p.minVal != nil && r.Cmp(p.minVal) < 0 {
			return fmt.Sprintf("%s is less than MinValue %s", show, p.MinValue)
		}
		if p.maxVal != nil && r.Cmp(p.maxVal) > 0 {
			return fmt.Sprintf("%s is more than MaxValue %s", show, p.MaxValue)
		}
		if len(p.allowed) > 0 && !slices.ContainsFunc(p.allowed, func(a string) bool {
			_, ar, ok := parseNumber(a)
			return ok && ar.Cmp(r) == 0
		}) {
			return show + " is not one of AllowedValues"
		}
		return ""
	}
	n := utf8.RuneCountInString(v)
	if p.MinLength != nil && n < *p.MinLength {
		return fmt.Sprintf("%s is shorter than MinLength %d", show, *p.MinLength)
	}
	if p.MaxLength != nil && n > *p.MaxLength {
		return fmt.Sprintf("%s is longer than MaxLength %d", show, *p.MaxLength)
	}
	if p.re != nil && !p.re.MatchString(v) {
		return show + " does not match AllowedPattern"
	}
	if len(p.allowed) > 0 && !slices.Contains(p.allowed, v) {
		return show + " is not one of AllowedValues"
	}
	return ""
}

// jsonValue converts a checked value of p to its JSON type.
func (p *tparam) jsonValue(v string) any {
	if p.kind != pList {
		return itemValue(p.kind, v)
	}
	items := listItems(v)
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = itemValue(p.item, it)
	}
	return out
}

// itemValue converts one scalar value: a json.Number for numbers (as
// written when that is valid JSON), else the string.
func itemValue(k pkind, v string) any {
	if k == pNumber {
		if num, _, ok := parseNumber(v); ok {
			return num
		}
	}
	return v
}

// numberType returns "integer" when every number known for p (its
// Default, AllowedValues, MinValue, MaxValue and the plan's default def)
// is whole and there is at least one, else "number".
func (p *tparam) numberType(def *string) string {
	var texts []string
	if p.defText != nil {
		texts = append(texts, *p.defText)
	}
	if def != nil {
		texts = append(texts, *def)
	}
	if p.kind == pList {
		var items []string
		for _, t := range texts {
			items = append(items, listItems(t)...)
		}
		texts = items
	}
	texts = append(texts, p.allowed...)
	if p.minVal != nil {
		texts = append(texts, p.MinValue.String())
	}
	if p.maxVal != nil {
		texts = append(texts, p.MaxValue.String())
	}
	if len(texts) == 0 {
		return "number"
	}
	for _, t := range texts {
		if _, r, ok := parseNumber(t); !ok || !r.IsInt() {
			return "number"
		}
	}
	return "integer"
}

// property returns the JSON Schema of p. def is the default (the plan's
// or the template's), used for the number type and, when withDefault,
// as "default".
func (p *tparam) property(def *string, withDefault bool) map[string]any {
	prop := map[string]any{}
	target := prop // where the constraints on one value go
	valueKind := p.kind
	switch p.kind {
	case pString:
		prop["type"] = "string"
	case pNumber:
		prop["type"] = p.numberType(def)
	case pList:
		valueKind = p.item
		items := map[string]any{"type": "string"}
		if p.item == pNumber {
			items["type"] = p.numberType(def)
		}
		// CloudFormation takes the comma-separated string; a JSON array
		// is joined with commas.
		prop["type"] = []any{"array", "string"}
		prop["items"] = items
		target = items
	}
	if p.Label != "" {
		prop["title"] = p.Label
	}
	if p.Description != "" {
		prop["description"] = p.Description
	}
	if len(p.allowed) > 0 {
		enum := make([]any, len(p.allowed))
		for i, a := range p.allowed {
			enum[i] = itemValue(valueKind, a)
		}
		target["enum"] = enum
	}
	if p.re != nil {
		target["pattern"] = p.re.String()
	}
	if p.MinLength != nil {
		target["minLength"] = *p.MinLength
	}
	if p.MaxLength != nil {
		target["maxLength"] = *p.MaxLength
	}
	if p.minVal != nil {
		target["minimum"] = p.MinValue
	}
	if p.maxVal != nil {
		target["maximum"] = p.MaxValue
	}
	if p.NoEcho {
		prop["writeOnly"] = true
	}
	// A NoEcho default is a secret of the template's author: the catalog
	// is readable by every platform user, so it is not published.
	if withDefault && def != nil && !p.NoEcho {
		prop["default"] = p.jsonValue(*def)
	}
	return prop
}

// createSchema is a plan's service_instance.create schema: every
// parameter the plan does not fix, with its default (the plan's, else the
// template's); those without one are required.
func createSchema(params map[string]*tparam, order []string, fixed, defaults map[string]string) Schema {
	props := map[string]any{}
	var required []any
	for _, name := range order {
		if _, ok := fixed[name]; ok {
			continue
		}
		p := params[name]
		def := p.defText
		if d, ok := defaults[name]; ok {
			def = &d
		}
		props[name] = p.property(def, true)
		if def == nil {
			required = append(required, name)
		}
	}
	s := Schema{
		"$schema":              templateSchemaDraft,
		"type":                 "object",
		"properties":           props,
		"additionalProperties": false,
	}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

// The parameters of TemplateOptions.TargetParameters, as
// credentials.FromParameters reads them. CloudFormation parameter names
// are alphanumeric, so they never clash with a template's.
const (
	paramTargetAccountID = "target_account_id"
	paramTargetRoleName  = "target_role_name"
)

// addTargetParameters adds the optional target_account_id and
// target_role_name properties to a create schema.
func addTargetParameters(s Schema) {
	props := s["properties"].(map[string]any)
	props[paramTargetAccountID] = map[string]any{
		"type":        "string",
		"title":       "Target account",
		"description": "The 12-digit ID of the AWS account to create the instance in (default: the broker's own).",
		"pattern":     "^[0-9]{12}$",
	}
	props[paramTargetRoleName] = map[string]any{
		"type":        "string",
		"title":       "Target role",
		"description": "The IAM role the broker assumes in the target account (default: the broker's role name).",
		"pattern":     `^[\w+=,.@-]{1,64}$`,
	}
}

// updateSchema is a plan's service_instance.update schema: the updatable
// parameters the plan does not fix, without defaults (an update changes
// only what it names) and none required.
func updateSchema(params map[string]*tparam, order []string, fixed map[string]string, updatable []string) Schema {
	props := map[string]any{}
	for _, name := range order {
		if _, ok := fixed[name]; ok || !slices.Contains(updatable, name) {
			continue
		}
		props[name] = params[name].property(params[name].defText, false)
	}
	return Schema{
		"$schema":              templateSchemaDraft,
		"type":                 "object",
		"properties":           props,
		"additionalProperties": false,
	}
}

// public returns a copy of the exported description of p.
func (p *tparam) public() TemplateParameter {
	out := p.TemplateParameter
	out.AllowedValues = slices.Clone(p.AllowedValues)
	if d, ok := out.Default.([]any); ok {
		out.Default = slices.Clone(d)
	}
	if p.MinLength != nil {
		v := *p.MinLength
		out.MinLength = &v
	}
	if p.MaxLength != nil {
		v := *p.MaxLength
		out.MaxLength = &v
	}
	return out
}

// numberSyntax is what CloudFormation-style numbers look like: decimal,
// optionally signed, with optional fraction and exponent.
var numberSyntax = regexp.MustCompile(`^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$`)

// jsonNumberSyntax is JSON's number grammar.
var jsonNumberSyntax = regexp.MustCompile(`^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$`)

// parseNumber reads a number written in a template: surrounding spaces
// are ignored and exponents are limited to ±400 (so that hostile input
// cannot make huge integers). The json.Number is the text as written when
// that is valid JSON, else its canonical form ("+5" is 5, ".5" is 0.5).
func parseNumber(s string) (json.Number, *big.Rat, bool) {
	s = strings.TrimSpace(s)
	if len(s) > 100 || !numberSyntax.MatchString(s) {
		return "", nil, false
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 400 || e < -400 {
			return "", nil, false
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return "", nil, false
	}
	if jsonNumberSyntax.MatchString(s) {
		return json.Number(s), r, true
	}
	if r.IsInt() {
		return json.Number(r.Num().String()), r, true
	}
	f, _ := r.Float64()
	return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), r, true
}
