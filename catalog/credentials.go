package catalog

import (
	"fmt"
	"text/template"
)

// checkCredentials reports the problems of c through add, with field
// paths relative to c. The paths use the JSON names ("transforms[1].op"),
// or, when specNames is true, the names of the template specification
// ("Transforms[1].Op"), so that [Catalog.Validate] and [LoadTemplates]
// check the same rules and each names fields as its reader wrote them.
func checkCredentials(c *CredentialsSpec, specNames bool, add func(field, format string, args ...any)) {
	name := func(jsonName, specName string) string {
		if specNames {
			return specName
		}
		return jsonName
	}
	switch c.Mapping {
	case "", MappingAsIs, MappingScreamingSnake, MappingServiceBinding:
	default:
		add(name("mapping", "Mapping"), "%q is not %s, %s or %s", c.Mapping, MappingAsIs, MappingScreamingSnake, MappingServiceBinding)
	}
	for _, f := range []struct{ field, v string }{{name("type", "Type"), c.Type}, {name("provider", "Provider"), c.Provider}} {
		if f.v != "" && !lowerName(f.v) {
			add(f.field, "%q must be lower case: use only a-z, 0-9, hyphens and periods", f.v)
		}
	}
	if c.Provider != "" && c.Type == "" {
		// The Secret gets a provider entry only with a type entry.
		add(name("provider", "Provider"), "is set but %s is not: a provider needs a type", name("type", "Type"))
	}
	for i, t := range c.Transforms {
		tp := fmt.Sprintf("%s[%d]", name("transforms", "Transforms"), i)
		field := func(jsonName, specName string) string { return tp + "." + name(jsonName, specName) }
		if t.Key == "" {
			add(field("key", "Key"), "must not be empty")
		}
		// notSet reports fields the operation does not use.
		notSet := func(fs ...[3]string) {
			for _, f := range fs {
				if f[2] != "" {
					add(field(f[0], f[1]), "must not be set for %s", t.Op)
				}
			}
		}
		to := [3]string{"to", "To", t.To}
		value := [3]string{"value", "Value", t.Value}
		tmpl := [3]string{"template", "Template", t.Template}
		switch t.Op {
		case OpRename:
			if t.To == "" {
				add(field("to", "To"), "must not be empty: a rename needs the new key")
			}
			notSet(value, tmpl)
		case OpAdd:
			notSet(to)
			switch {
			case t.Value == "" && t.Template == "":
				add(tp, "add needs exactly one of %s and %s, got neither", name("value", "Value"), name("template", "Template"))
			case t.Value != "" && t.Template != "":
				add(tp, "add needs exactly one of %s and %s, got both", name("value", "Value"), name("template", "Template"))
			case t.Template != "":
				// As package binding parses it. The error quotes the
				// template, which is catalog text, never a credential.
				if _, err := template.New(t.Key).Option("missingkey=error").Parse(t.Template); err != nil {
					add(field("template", "Template"), "does not parse: %v", err)
				}
			}
		case OpRemove:
			notSet(to, value, tmpl)
		case "":
			add(field("op", "Op"), "must not be empty (%s, %s or %s)", OpRename, OpAdd, OpRemove)
		default:
			add(field("op", "Op"), "%q is not %s, %s or %s", t.Op, OpRename, OpAdd, OpRemove)
		}
	}
	if c.Lifetime < 0 {
		add(name("lifetime", "Lifetime"), "must not be negative, got %s", c.Lifetime)
	}
}

// lowerName reports whether s uses only a-z, 0-9, '-' and '.', as the
// servicebinding.io type and provider entries do ("mysql", "sqs").
func lowerName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
