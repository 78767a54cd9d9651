package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v4"
)

// tnode is one value of a parsed CloudFormation template, YAML or JSON,
// with the order of mapping keys kept (plans, parameter groups and
// outputs are listed in the order the author wrote them).
//
// Scalars keep their text exactly as written, quotes removed: 5 stays
// "5" and 'True' stays "True", so that values reach CloudFormation
// unchanged whatever type a YAML or JSON parser would have given them.
// The short forms of intrinsic functions (!Ref x, !GetAtt a.b, !If [...])
// become their long forms ({"Ref": x}, {"Fn::GetAtt": "a.b"}, {"Fn::If":
// [...]}), as CloudFormation reads them.
type tnode struct {
	kind  tkind
	value string   // scalars
	keys  []string // mappings, in document order
	vals  []*tnode // mappings, vals[i] is the value of keys[i]
	items []*tnode // sequences
}

type tkind int

const (
	tNull tkind = iota
	tScalar
	tMap
	tSeq
)

// get returns the value of key in a mapping, or nil.
func (n *tnode) get(key string) *tnode {
	if n == nil || n.kind != tMap {
		return nil
	}
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

// describe names the kind of n for messages.
func (n *tnode) describe() string {
	if n == nil {
		return "missing"
	}
	switch n.kind {
	case tNull:
		return "null"
	case tScalar:
		return "a scalar"
	case tMap:
		if len(n.keys) == 1 && isIntrinsic(n.keys[0]) {
			return "the intrinsic function " + n.keys[0]
		}
		return "a mapping"
	case tSeq:
		return "a list"
	}
	return "unknown"
}

// isIntrinsic reports whether a mapping key is an intrinsic function or a
// condition reference.
func isIntrinsic(key string) bool {
	return key == "Ref" || key == "Condition" || strings.HasPrefix(key, "Fn::")
}

// shortTags maps the short-form tags of CloudFormation's YAML to the
// long-form keys of the functions they stand for.
var shortTags = map[string]string{
	"!Ref":          "Ref",
	"!Condition":    "Condition",
	"!Base64":       "Fn::Base64",
	"!Cidr":         "Fn::Cidr",
	"!FindInMap":    "Fn::FindInMap",
	"!GetAtt":       "Fn::GetAtt",
	"!GetAZs":       "Fn::GetAZs",
	"!ImportValue":  "Fn::ImportValue",
	"!Join":         "Fn::Join",
	"!Select":       "Fn::Select",
	"!Split":        "Fn::Split",
	"!Sub":          "Fn::Sub",
	"!Transform":    "Fn::Transform",
	"!And":          "Fn::And",
	"!Equals":       "Fn::Equals",
	"!If":           "Fn::If",
	"!Not":          "Fn::Not",
	"!Or":           "Fn::Or",
	"!ToJsonString": "Fn::ToJsonString",
	"!Length":       "Fn::Length",
}

// parseTemplateBody parses a template file: JSON when json is true, else
// YAML (which also reads most JSON). A UTF-8 byte order mark is ignored.
func parseTemplateBody(data []byte, isJSON bool) (*tnode, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if isJSON {
		return parseJSON(data)
	}
	return parseYAML(data)
}

func parseYAML(data []byte) (*tnode, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not valid YAML: %s", oneLine(err.Error()))
	}
	if doc.Kind == 0 || (doc.Kind == yaml.DocumentNode && len(doc.Content) == 0) {
		return nil, errors.New("the file is empty")
	}
	root := &doc
	if doc.Kind == yaml.DocumentNode {
		root = doc.Content[0]
	}
	return fromYAML(root, 0)
}

// maxDepth bounds the nesting of a template's values: CloudFormation's
// own templates nest a few dozen levels at most.
const maxDepth = 200

var errTooDeep = fmt.Errorf("values are nested more than %d levels deep", maxDepth)

// fromYAML converts a YAML node. Aliases are refused: CloudFormation does
// not support them, and refusing them bounds the work on hostile input.
func fromYAML(n *yaml.Node, depth int) (*tnode, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	if n == nil {
		return &tnode{kind: tNull}, nil
	}
	var out *tnode
	switch n.Kind {
	case yaml.AliasNode:
		return nil, fmt.Errorf("line %d: YAML aliases (*%s) are not supported by CloudFormation", n.Line, n.Value)
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			out = &tnode{kind: tNull}
		} else {
			out = &tnode{kind: tScalar, value: n.Value}
		}
	case yaml.SequenceNode:
		out = &tnode{kind: tSeq, items: make([]*tnode, 0, len(n.Content))}
		for _, c := range n.Content {
			v, err := fromYAML(c, depth+1)
			if err != nil {
				return nil, err
			}
			out.items = append(out.items, v)
		}
	case yaml.MappingNode:
		out = &tnode{kind: tMap}
		seen := make(map[string]bool, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a mapping key must be a plain string", k.Line)
			}
			if seen[k.Value] {
				return nil, fmt.Errorf("line %d: key %q appears twice in the same mapping", k.Line, k.Value)
			}
			seen[k.Value] = true
			v, err := fromYAML(n.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			out.keys = append(out.keys, k.Value)
			out.vals = append(out.vals, v)
		}
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
	}
	tag := n.Tag
	if tag == "" || strings.HasPrefix(tag, "!!") || strings.HasPrefix(tag, "tag:yaml.org,2002:") || tag == "!" {
		return out, nil
	}
	long, ok := shortTags[tag]
	if !ok {
		return nil, fmt.Errorf("line %d: unknown tag %s (CloudFormation's short forms are !Ref, !GetAtt, !Sub, !If and the other intrinsic functions)", n.Line, tag)
	}
	return &tnode{kind: tMap, keys: []string{long}, vals: []*tnode{out}}, nil
}

func parseJSON(data []byte) (*tnode, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("the file is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := fromJSON(dec, 0)
	if err != nil {
		return nil, jsonError(data, dec, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, jsonError(data, dec, errors.New("unexpected data after the top-level value"))
	}
	return n, nil
}

// jsonError adds the line the decoder stopped at. The text of a syntax
// error is cut to the offending character, as encoding/json's wording
// after it differs between Go releases and error text is API.
func jsonError(data []byte, dec *json.Decoder, err error) error {
	off := min(int(dec.InputOffset()), len(data))
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	msg := oneLine(err.Error())
	if m := invalidCharRE.FindString(msg); m != "" {
		msg = m
	}
	return fmt.Errorf("not valid JSON: line %d: %s", line, msg)
}

var invalidCharRE = regexp.MustCompile(`^invalid character '(?:[^'\\]|\\.)+'`)

// fromJSON reads one value from dec.
func fromJSON(dec *json.Decoder, depth int) (*tnode, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			out := &tnode{kind: tMap}
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("object key is not a string")
				}
				if seen[k] {
					return nil, fmt.Errorf("key %q appears twice in the same object", k)
				}
				seen[k] = true
				v, err := fromJSON(dec, depth+1)
				if err != nil {
					return nil, err
				}
				out.keys = append(out.keys, k)
				out.vals = append(out.vals, v)
			}
			if _, err := dec.Token(); err != nil { // '}'
				return nil, err
			}
			return out, nil
		case '[':
			out := &tnode{kind: tSeq}
			for dec.More() {
				v, err := fromJSON(dec, depth+1)
				if err != nil {
					return nil, err
				}
				out.items = append(out.items, v)
			}
			if _, err := dec.Token(); err != nil { // ']'
				return nil, err
			}
			return out, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case nil:
		return &tnode{kind: tNull}, nil
	case string:
		return &tnode{kind: tScalar, value: t}, nil
	case json.Number:
		return &tnode{kind: tScalar, value: t.String()}, nil
	case bool:
		if t {
			return &tnode{kind: tScalar, value: "true"}, nil
		}
		return &tnode{kind: tScalar, value: "false"}, nil
	}
	return nil, fmt.Errorf("unexpected token %T", tok)
}

// oneLine joins the lines of a message.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
