// Package mototest gives tests a moto_server (https://github.com/getmoto/moto)
// to run AWS calls against, without AWS.
//
// Usage, in a package whose tests need moto:
//
//	func TestMain(m *testing.M) { mototest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		endpoint := mototest.Endpoint(t) // skips the test if moto is absent
//		client := cloudformation.NewFromConfig(mototest.Config(t, endpoint))
//		...
//	}
//
// [Endpoint] returns BROKERKIT_MOTO_ENDPOINT when it is set. Otherwise it
// starts one moto_server per test binary, on a free port of 127.0.0.1, the
// first time a test asks, and every later test of the binary shares it.
// [Main] stops it when the tests are done. When moto_server is not on PATH
// the test is skipped, unless BROKERKIT_REQUIRE_MOTO=1, which makes it a
// failure (CI sets it, so that a missing moto cannot pass silently).
//
// Because the tests of a package share one server, tests that run in
// parallel must not call [Reset] (it wipes every account and region of the
// server); they use unique resource names instead.
//
// All functions are safe for concurrent use.
//
// What it does not do: it does not start one server per test, does not
// isolate accounts between tests, and does not check the moto version.
package mototest
