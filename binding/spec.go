package binding

import (
	"fmt"

	"github.com/brokerkit/brokerkit/catalog"
)

// OptionsFor returns the Options that a service's credentials spec
// declares: its Mapping and its Transforms, in order. A nil spec gives
// the zero Options (output names kept as they are).
//
// The other fields of the spec are not Options: Type and Provider shape
// the Secret ([SecretFor]) and Lifetime the binding's expiry, which the
// caller computes. Resolver and Extra are the caller's to set on the
// result.
//
// An unknown mapping or op is an error naming the field, as in
// `binding: credentials.transforms[1].op: "rname" is not rename, add or
// remove`; an unknown op wraps [ErrBadTransform]. Other mistakes
// ([catalog.Catalog.Validate] reports them all at startup) surface when
// [Build] runs: a rename without To, for instance, fails with
// [ErrInvalidKey].
func OptionsFor(spec *catalog.CredentialsSpec) (Options, error) {
	var opts Options
	if spec == nil {
		return opts, nil
	}
	switch spec.Mapping {
	case "", catalog.MappingAsIs:
		opts.Mapping = AsIs
	case catalog.MappingScreamingSnake:
		opts.Mapping = ScreamingSnake
	case catalog.MappingServiceBinding:
		opts.Mapping = ServiceBinding
	default:
		return Options{}, fmt.Errorf("binding: credentials.mapping: %q is not %s, %s or %s",
			spec.Mapping, catalog.MappingAsIs, catalog.MappingScreamingSnake, catalog.MappingServiceBinding)
	}
	for i, t := range spec.Transforms {
		var tr Transform
		switch t.Op {
		case catalog.OpRename:
			tr = RenameKey{From: t.Key, To: t.To}
		case catalog.OpAdd:
			tr = AddKey{Key: t.Key, Value: t.Value, Template: t.Template}
		case catalog.OpRemove:
			tr = RemoveKey{Key: t.Key}
		default:
			return Options{}, fmt.Errorf("binding: credentials.transforms[%d].op: %w: %q is not %s, %s or %s",
				i, ErrBadTransform, t.Op, catalog.OpRename, catalog.OpAdd, catalog.OpRemove)
		}
		opts.Transforms = append(opts.Transforms, tr)
	}
	return opts, nil
}

// SecretFor returns the data and type of the Kubernetes Secret holding c
// for a service with the given credentials spec: when spec.Type is set,
// a servicebinding.io Secret ([ServiceBindingSecret] with spec.Type and
// spec.Provider, type "servicebinding.io/<Type>"); otherwise, including
// for a nil spec, [KubernetesSecretData] and "Opaque", whatever entries
// c holds.
func SecretFor(c Credentials, spec *catalog.CredentialsSpec) (data map[string][]byte, secretType string) {
	if spec != nil && spec.Type != "" {
		return ServiceBindingSecret(c, spec.Type, spec.Provider)
	}
	return KubernetesSecretData(c), "Opaque"
}
