// Package brokertest is what a platform does, packaged for tests: a typed
// Open Service Broker API v2.17 client, a conformance suite that drives
// any OSB [net/http.Handler] through it, and an in-memory reference
// backend. It stands beside package broker as net/http/httptest stands
// beside net/http.
//
// # Client
//
// [NewClient] returns a [Client] with one method per endpoint, each
// taking a typed request and returning a [Response] that keeps the status,
// the headers, the raw body and its decoded form (or, for an error status,
// the decoded OSB error body):
//
//	c := brokertest.NewClient(srv.URL, brokertest.ClientOptions{Username: "u", Password: "p"})
//	resp, err := c.Provision(ctx, brokertest.ProvisionRequest{
//		InstanceID: id, ServiceID: svc, PlanID: plan,
//		OrganizationGUID: org, SpaceGUID: space, AcceptsIncomplete: true,
//	})
//	if err != nil { … }                 // transport failure, or a 2xx body that does not decode
//	if resp.StatusCode == http.StatusAccepted {
//		lo, err := c.PollLastOperation(ctx, id, resp.Value.Operation, brokertest.PollOptions{})
//		…
//	}
//
// It sends X-Broker-API-Version (2.17 unless told otherwise), HTTP Basic
// credentials, X-Broker-API-Originating-Identity if configured, and a
// fresh X-Broker-API-Request-Identity on each request; it percent-encodes
// IDs in paths and operation tokens in queries. [Client.PollLastOperation]
// and [Client.PollBindingLastOperation] poll until a terminal state,
// waiting what Retry-After asks (within [PollOptions.MaxInterval]).
// [Client.Do] sends anything, including the malformed requests a
// conformance check needs. No error string from a Client holds a
// password, credentials or parameters; [broker.Parameters] and
// [broker.Credentials] values print their keys only.
//
// # Conformance suite
//
// [Run] serves a handler with an httptest server and checks it against
// the project's OSB v2.17 conformance checklist, one subtest per check,
// named by checklist ID:
//
//	func TestConformance(t *testing.T) {
//		h, _ := broker.New(idx, backend, broker.Options{Authenticator: broker.BasicAuth(cred)})
//		brokertest.Run(t, h, brokertest.Config{
//			Username: cred.Username, Password: cred.Password,
//			Async: true, RequireAsync: broker.ActionProvision | broker.ActionUpdate | broker.ActionDeprovision,
//			ProvisionParameters: map[string]any{"name": "x"},
//		})
//	}
//
// It checks the catalog's structure (C1–C9, C11–C16); authentication on
// every endpoint, the version header, the order of those checks, the
// optional originating identity, the request identity, content types,
// percent-encoded IDs, the strict meaning of accepts_incomplete, error
// bodies and unknown fields (G1, G3–G7, G11–G15); provision validation,
// creation, repetition, conflicts, AsyncRequired and maintenance_info
// (P1–P8); last_operation states, tokens, hints, malformed queries and
// Retry-After (LI1, LI2, LI4–LI7); fetching instances and bindings (FI1,
// FI3, FI4, FB1, FB3); updates of parameters and plans and their refusals
// (U1, U3, U5–U8, U12); binds, unbinds and their repetitions (B1–B7, B14,
// LB1, LB2, LB4, UB1, UB3–UB5); deprovisions, also of an instance still
// being provisioned (D1, D3–D5, D7); and the rows of the idempotency
// matrix (I) a platform can reach without making the broker fail. On
// every response it also checks the content type and JSON body (G11),
// error body fields (G7, G8), status codes the spec never uses (G10, P11,
// D4, UB4), 202 only with accepts_incomplete=true (G15), operation tokens
// (G14, G17), bind bodies (B3, B4, B9, B10) and last_operation bodies
// (LI1, LB1, LI6, LB4); and it hands every response to [Config.Check], for
// a caller's own validation against the OSB openapi.yaml, for instance.
// [Config.Skip] turns off named checks, for a broker's known deviations.
//
// The suite does not check what a platform cannot observe from outside:
// constant-time credential comparison and TLS (G2), orphan mitigation
// after real failures (O, LI8, B13), what a backend deletes (D2, UB2),
// binding rotation (B12), RequiresApp (B7), context-only updates (U11),
// credentials' uniqueness (B11) or timing (G18). It deletes what it
// created, and nothing else.
//
// # Memory
//
// [NewMemory] returns a [Memory], a backend that implements the OSB
// semantics in memory: the idempotency matrix, ConcurrencyError for
// overlapping operations, asynchronous operations that complete after a
// given number of polls, tombstones after deletes, random credentials per
// binding, and injected failures ([MemoryOptions.Fail]). It is the
// reference the suite is tested against, and a stand-in backend for tests
// of code that talks to a broker.
//
// Memory does not model: persistence (everything is lost with the value);
// time (operations advance only when polled, never on their own, and
// tombstones are kept forever); failures other than those Fail injects;
// binding rotation beyond checking that the predecessor exists; binding
// expiry, endpoints, volume mounts, syslog drains and route services;
// RequiresApp; instance metadata; quotas; or anything outside the
// process. A deprovision also deletes the instance's bindings.
//
// # Concurrency
//
// A Client and a Memory are safe for concurrent use. Run is called from a
// test's goroutine and runs its subtests one after another.
package brokertest
