// Package integration shows, as tests, a broker assembled from brokerkit's
// parts — catalog, broker handler, Tracker, store, CloudFormation
// provisioner — driven over HTTP the way a platform drives it, against moto
// and against the scripted fake.
//
// It has no API: read the tests. setup_test.go wires the parts together
// (startBroker); moto_test.go plays a whole provision, update and
// deprovision against moto_server and checks the stacks and queues in moto
// itself; concurrency_test.go sends a hundred identical provisions at once
// and operations that collide with a provision in progress;
// restart_test.go stops the Tracker and the HTTP server in the middle of
// operations, starts new ones on the same bbolt file and checks that every
// operation ends with one stack per instance, neither duplicated nor
// orphaned.
//
// The tests against moto are skipped when moto_server is not on PATH,
// unless BROKERKIT_REQUIRE_MOTO=1; the others need nothing outside the
// process.
package integration
