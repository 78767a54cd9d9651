// Package store holds two implementations of [provisioner.Store]: [Memory],
// a map for tests and throwaway brokers, and [Bolt], a durable store in one
// local file written with bbolt (go.etcd.io/bbolt) for a broker that runs
// as a single process. Both pass the contract suite in package storetest.
//
//	s, err := store.OpenBolt("/var/lib/broker/instances.db", store.BoltOptions{})
//	if err != nil {
//		return err // store.ErrLocked: another process has the file
//	}
//	defer s.Close()
//	tracker, err := provisioner.New(provisioner.Options{Store: s, …})
//
// # Compare-and-swap
//
// Every Put compares the record's Version with the stored one (0: none may
// exist), writes the record with Version+1 and sets rec.Version to it; on
// a mismatch it returns [provisioner.ErrVersionConflict] and writes
// nothing. Delete compares the same way. A record without an InstanceID
// or an Operation is refused with [ErrInvalidRecord]. Each call checks
// its context before it starts and returns ctx.Err() if it has ended;
// once started, a call runs to its end.
//
// # Concurrency
//
// Both stores are safe for concurrent use by any number of goroutines,
// and the compare-and-swap is exact among them: of N concurrent creators
// of one ID exactly one succeeds. Memory holds one mutex; Bolt relies on
// bbolt, which runs one write transaction at a time while reads proceed
// concurrently on a consistent snapshot. Neither serves several
// processes or replicas: Memory lives in one process, and Bolt's file
// can be open in one process only (below). Replicas need a shared store,
// such as package store/dynamodb. [Memory.Leased] gives a view of a
// Memory that is also a [provisioner.Leaser], for tests of several
// Trackers in one process.
//
// Both return copies: a caller may change a returned record, or the
// record it passed to Put, without changing what is stored.
//
// # Bolt's file
//
// A Bolt file is a bbolt database with four buckets:
//
//	meta       "format" → "1"  (the layout version; OpenBolt refuses others)
//	instances  instance ID → the Record as JSON (encoding/json, the
//	           Record's JSON tags, Version included)
//	inflight   instance ID → empty, for each record whose operation is in
//	           progress (Record.InFlight)
//	expiry     12-byte time + "/" + instance ID → empty, for each
//	           tombstone (Record.Deleted); the time is ExpiresAt as Unix
//	           seconds, big-endian with the sign bit flipped, then the
//	           nanoseconds within the second, big-endian, so that keys
//	           sort by time for every time (the zero time first)
//
// Put and Delete read the stored record, compare versions, and write the
// record and both indexes in one bbolt write transaction, so the indexes
// never disagree with the records. InFlight reads the inflight index and
// then only those records; Expired is a range scan of the expiry index up
// to its bound. Records are decoded with json.Decoder.UseNumber: numbers
// in Parameters, Context and Operation.Change come back as json.Number,
// exactly as written (1209600 stays "1209600", not 1.2096e+06). A record
// that does not decode is an error wrapping [ErrCorrupt] that names its
// instance ID, never a panic; other records stay readable.
//
// # Durability and the single-process rule
//
// A Put or Delete that returned nil has been fsynced: it survives a crash
// of the process or the machine. [BoltOptions.NoSync] turns that off for
// tests and benchmarks. The file is created with mode 0600, since it holds
// parameters and secret digests.
//
// OpenBolt takes an exclusive lock (flock) on the file, held until Close:
// a second process, or a second OpenBolt in the same process, waits up to
// [BoltOptions.Timeout] (default 1s) and fails with [ErrLocked] naming the
// file. A file on a network file system whose locks are unreliable is not
// supported.
//
// # Zero values
//
// The zero Memory is an empty store ready for use. The zero Bolt is not
// usable; build one with OpenBolt. The zero BoltOptions is the production
// setting.
package store
