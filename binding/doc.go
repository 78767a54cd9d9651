// Package binding turns stack outputs into the credentials a service
// binding hands to an application, and renders them as an OSB
// credentials object or a Kubernetes Secret.
//
// Of brokerkit it imports only package catalog, whose
// [catalog.CredentialsSpec] declares per service what [OptionsFor] and
// [SecretFor] turn into Options and a Secret: the broker and the
// provisioner use it, and it uses neither.
//
// # Usage
//
// A backend merges the instance's outputs with the binding's own, then
// builds:
//
//	creds, err := binding.Build(ctx, binding.Merge(instanceOutputs, bindingOutputs), binding.Options{
//		Mapping:  binding.ScreamingSnake,
//		Resolver: &binding.Resolver{SSM: ssm.NewFromConfig(cfg)},
//		Extra:    map[string]string{"AWS_REGION": region, "AWS_ACCESS_KEY_ID": id, "AWS_SECRET_ACCESS_KEY": secret},
//		Transforms: []binding.Transform{
//			binding.AddKey{Key: "QUEUE_REGION", Template: "{{.AWS_REGION}}"},
//		},
//	})
//	resp.Credentials = binding.OSB(creds)
//
// The catalog declares the mapping and the transforms per service
// ([catalog.Service].Credentials); [OptionsFor] turns them into Options,
// to which the backend adds its Resolver and Extra:
//
//	opts, err := binding.OptionsFor(service.Credentials)
//	opts.Resolver, opts.Extra = resolver, extra
//
// Build runs five steps in this order:
//
//  1. resolve: with a [Resolver], values "ssm:NAME" and Secrets Manager
//     secret ARNs are replaced by the secrets they name;
//  2. map: keys are renamed by the [Mapping]: [AsIs] (QueueURL),
//     [ScreamingSnake] (QUEUE_URL, the old AWS broker's rule exactly) or
//     [ServiceBinding] (queue-url, with the servicebinding.io well-known
//     names host, port, uri, username and password where certain);
//  3. extra: Options.Extra is added, keys as they are;
//  4. transform: [RenameKey], [AddKey] (a constant or a text/template
//     over the other keys) and [RemoveKey], in order;
//  5. validate: every key must be a valid Kubernetes Secret key.
//
// [OSB], [KubernetesSecretData] and [ServiceBindingSecret] render the
// result; [SecretFor] picks the Secret a service's spec asks for.
//
// # Secrets
//
// [Credentials] print their keys only, whatever prints them: fmt with any
// verb, slog (text or JSON), encoding.TextMarshaler and json.Marshal. The
// values leave through explicitly named calls only. Every error this
// package returns is an [*Error] naming the key (and, for a secret-store
// reference, the parameter name or ARN), except those of [OptionsFor],
// which name the field of the spec; none contains a value. Errors of
// the SDK clients are wrapped as they are; the AWS SDK's errors do not
// echo secret values, but a hand-written client's might.
//
// # Concurrency and zero values
//
// Credentials are immutable and safe for concurrent use; the zero value
// is empty. Build, Apply and the renderers keep no state. A [Resolver]
// is safe for concurrent use when its clients are; the zero Resolver
// fails on every reference, a nil *Resolver in [Options] resolves
// nothing. The zero [Options] keeps the outputs as they are and only
// validates the keys.
package binding
