// Package broker serves the Open Service Broker API v2.17 as an
// [http.Handler], so that a broker author implements a small typed
// interface and gets every status code, header and error body right.
//
// # Usage
//
// Build a validated catalog index, implement [ServiceBroker] (and [Binder],
// [InstanceGetter], [BindingGetter] as the catalog requires), and serve:
//
//	idx, err := catalog.NewIndex(myCatalog)
//	...
//	h, err := broker.New(idx, myBackend, broker.Options{
//		Authenticator: broker.BasicAuth(broker.Credential{Username: "platform", Password: pw}),
//		RequireAsync:  broker.ActionProvision | broker.ActionUpdate | broker.ActionDeprovision,
//		Logger:        logger,
//	})
//	...
//	http.ListenAndServeTLS(":8443", cert, key, h)
//
// # What the handler does for the backend
//
// Before a backend method runs, the handler has authenticated the request
// (401), checked X-Broker-API-Version (412, or 400 for a missing header
// if so configured), decoded the body (400 for malformed JSON, a wrong
// Content-Type, missing required fields, unknown service or plan IDs, a
// plan of another service, an unbindable plan, rotation of a plan that is
// not binding_rotatable, parameters that fail the plan's JSON Schema —
// absent parameters of a provision or bind are checked as {}, so required
// ones are required),
// and answered 422 AsyncRequired, MaintenanceInfoConflict or a refused
// plan change itself. Unknown JSON fields are ignored, as the spec
// requires. Path IDs arrive percent-decoded; parameter numbers arrive as
// [encoding/json.Number], exact.
//
// After it runs, the handler checks the answer before sending it, because
// a malformed 2xx makes a platform orphan-mitigate: a zero [Outcome], an
// [Accepted] answer to a request without accepts_incomplete=true, an
// operation token over 10,000 characters, binding data in a 202, binding
// fields the service does not require, malformed endpoints or expiry
// metadata are all answered with 500 and logged as the backend's fault.
//
// # Backends from this module
//
// [Tracked] is a ServiceBroker and InstanceGetter over a
// provisioner.Tracker (CloudFormation stacks, operations that survive
// restarts); [TrackedBindings] adds Binder and BindingGetter with one
// stack per binding, run by a second Tracker. A broker embeds both in one
// struct. brokertest.NewMemory is an in-memory backend for tests.
//
// # Errors
//
// Backends return errors; [Error] values (alone or wrapped with %w) choose
// the status and body, found with [errors.As] in one place. The sentinels
// ([ErrConcurrency], [ErrInstanceNotFound], ...) cover the cases the spec
// names, including its rule that a delete of something that does not
// exist is 410 Gone, never 404. Any other error is a 500 whose body says
// nothing of the cause; the cause is logged.
//
// # Logging and secrets
//
// One line per request goes to [Options.Logger] (Debug; Error for 5xx).
// Parameters and credentials are never logged: [Parameters] and
// [Credentials] print only their keys, whatever the format verb.
//
// # Concurrency
//
// A [Handler] is immutable after [New] and safe for concurrent use. The
// catalog response is encoded once. Backend methods are called
// concurrently, also for one instance; backends answer [ErrConcurrency]
// to what they cannot do at the same time.
package broker
