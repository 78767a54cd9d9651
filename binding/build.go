package binding

import (
	"context"
	"maps"
	"slices"
)

// Options configure [Build]. The zero value keeps the outputs as they
// are, resolves nothing and adds nothing.
type Options struct {
	// Mapping renames the output keys.
	Mapping Mapping
	// Transforms run in order after Extra is added.
	Transforms []Transform
	// Resolver, if not nil, resolves secret-store references in the
	// outputs. Nil passes every value through as it is.
	Resolver *Resolver
	// Extra pairs are added after the mapping, with their keys as they
	// are, replacing mapped keys of the same name: what the broker adds
	// itself, such as the region or a binding's access key. They are
	// not resolved.
	Extra map[string]string
}

// Build turns outputs (an instance's stack outputs, [Merge]d with a
// binding's own) into credentials: it resolves secret-store references,
// maps the keys, adds Extra, applies the transforms in order and
// validates every key ([ValidateKey]). Errors are [*Error]s naming a key,
// never a value. outputs is not modified.
func Build(ctx context.Context, outputs map[string]string, opts Options) (Credentials, error) {
	m := outputs
	if opts.Resolver != nil {
		var err error
		if m, err = opts.Resolver.Resolve(ctx, outputs); err != nil {
			return Credentials{}, err
		}
	}
	m, err := opts.Mapping.Map(m)
	if err != nil {
		return Credentials{}, err
	}
	maps.Copy(m, opts.Extra)
	if err := applyAll(m, opts.Transforms); err != nil {
		return Credentials{}, err
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if err := ValidateKey(k); err != nil {
			return Credentials{}, err
		}
	}
	return FromMap(m), nil
}
