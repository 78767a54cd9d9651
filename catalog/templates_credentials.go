package catalog

import (
	"fmt"
	"slices"
	"strings"
)

// Keys of the specification's Credentials and of its transforms.
var (
	credentialsKeys = []string{"Mapping", "Type", "Provider", "Lifetime", "Transforms"}
	transformKeys   = []string{"Op", "Key", "To", "Value", "Template"}
)

// credentials reads the specification's Credentials, brokerkit's own key,
// and defaults its Mapping: as-is when the specification's OutputsAsIs is
// true, else TemplateOptions.Mapping (as-is when empty). It always
// returns a spec; its problems are reported, each once.
func (l *fileLoader) credentials(spec *tnode, outputsAsIs bool) *CredentialsSpec {
	field := specPath + ".Credentials"
	c := &CredentialsSpec{}
	// broken are fields already reported as unreadable: the rule checks
	// below would report them again as empty.
	broken := map[string]bool{}
	str := func(n *tnode, key, f string) string {
		before := len(l.errs)
		s := l.optString(n, key, f)
		if len(l.errs) > before {
			broken[f] = true
		}
		return s
	}
	if n := l.mapping(spec, "Credentials", field, false); n != nil {
		for _, k := range n.keys {
			if !slices.Contains(credentialsKeys, k) {
				l.errorf(field+"."+k, "unknown key (Credentials has Mapping, Type, Provider, Lifetime and Transforms)")
			}
		}
		c.Mapping = str(n, "Mapping", field+".Mapping")
		c.Type = str(n, "Type", field+".Type")
		c.Provider = str(n, "Provider", field+".Provider")
		if v := str(n, "Lifetime", field+".Lifetime"); v != "" {
			if err := c.Lifetime.UnmarshalText([]byte(v)); err != nil {
				l.errorf(field+".Lifetime", "%s", strings.TrimPrefix(err.Error(), "catalog: "))
			}
		}
		if ts := n.get("Transforms"); ts != nil && ts.kind != tNull {
			if ts.kind != tSeq {
				l.errorf(field+".Transforms", "must be a list, not %s", ts.describe())
			}
			for i, it := range ts.items {
				f := fmt.Sprintf("%s.Transforms[%d]", field, i)
				// Keep one entry per item, so that indexes match the file.
				c.Transforms = append(c.Transforms, KeyTransform{})
				if it.kind != tMap || (len(it.keys) == 1 && isIntrinsic(it.keys[0])) {
					l.errorf(f, "must be a mapping with Op and Key, not %s", it.describe())
					broken[f] = true
					continue
				}
				for _, k := range it.keys {
					if !slices.Contains(transformKeys, k) {
						l.errorf(f+"."+k, "unknown key (a transform has Op, Key, To, Value and Template)")
					}
				}
				c.Transforms[i] = KeyTransform{
					Op:       str(it, "Op", f+".Op"),
					Key:      str(it, "Key", f+".Key"),
					To:       str(it, "To", f+".To"),
					Value:    str(it, "Value", f+".Value"),
					Template: str(it, "Template", f+".Template"),
				}
			}
		}
	}
	switch c.Mapping {
	case "":
		c.Mapping = l.defaultMapping
		if outputsAsIs || c.Mapping == "" {
			c.Mapping = MappingAsIs
		}
	case MappingScreamingSnake, MappingServiceBinding:
		if outputsAsIs {
			l.errorf(field+".Mapping", "%q contradicts %s.OutputsAsIs, which is true (as-is)", c.Mapping, specPath)
		}
	}
	checkCredentials(c, true, func(f, format string, args ...any) {
		f = field + "." + f
		for b := range broken {
			if f == b || strings.HasPrefix(f, b+".") {
				return
			}
		}
		l.errorf(f, format, args...)
	})
	return c
}
