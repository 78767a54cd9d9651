// Package storetest is the contract of [provisioner.Store] as a test
// suite, so that every implementation (the memory and bbolt stores of
// package store, the DynamoDB store of package store/dynamodb) is held to
// the same rules, and every [provisioner.Leaser] to [RunLeaser]'s:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) provisioner.Store {
//			s, err := store.OpenBolt(filepath.Join(t.TempDir(), "s.db"), store.BoltOptions{})
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// [Run] checks Get, Put's compare-and-swap (creation at version 0,
// updates that add one to the version, stale and missing versions),
// Delete's version check, InFlight and Expired as records change, that
// returned records are copies, a JSON round trip of a record with every
// field set (json.Number parameters keep their exact text), refusal of
// records without an ID or an Operation, cancelled contexts, and the
// compare-and-swap under contention (100 creators of one ID; 50
// read-modify-write incrementers of one record). Run it under -race.
//
// It does not check durability (that a Put survives a crash or a
// restart), a second process or replica writing the same store, large
// data sets or performance: those belong to each implementation's own
// tests. It checks the order of no result: InFlight and Expired are
// compared as sets.
package storetest
