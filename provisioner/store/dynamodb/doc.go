// Package dynamodb is a [provisioner.Store] in one Amazon DynamoDB table,
// shared by several replicas of a broker, and a [provisioner.Leaser] with
// which their Trackers divide the operations in flight. It passes the same
// contract suite (package storetest) as the memory and bbolt stores.
//
//	s, err := dynamodb.New(dynamodb.Options{
//		Client:    awsdynamodb.NewFromConfig(cfg),
//		Table:     "broker-state",
//		Namespace: "instances",
//	})
//	tracker, err := provisioner.New(provisioner.Options{Store: s, Owner: hostname, …})
//
// # Table layout
//
// One table, on-demand billing, partition key "pk" (string), no sort key,
// TTL on the attribute "ttl". Two kinds of item live in it:
//
//	record  pk       "rec:" + namespace + ":" + instance ID
//	        v        N, the record's version (Record.Version)
//	        rec      S, the Record as JSON (encoding/json, its JSON tags);
//	                 a field added to Record needs no change here
//	        w        S, a random token of the Put that wrote the item
//	        inflight S, namespace + "#", only while the operation is in
//	                 progress (Record.InFlight)
//	        tomb     S, namespace + "#", only on a tombstone (Record.Deleted)
//	        expires  N, ExpiresAt in Unix seconds, only on a tombstone
//	        ttl      N, ExpiresAt + TombstoneGrace in Unix seconds, only on
//	                 a tombstone with an ExpiresAt
//	lease   pk       "lease:" + namespace + ":" + instance ID
//	        owner    S, the Tracker holding it (Options.Owner)
//	        op       S, the operation it is for
//	        until    N, its end in Unix nanoseconds
//	        ttl      N, until + LeaseGrace in Unix seconds
//
// and two sparse global secondary indexes, both KEYS_ONLY: "inflight"
// (partition key inflight, sort key pk) holds exactly the records in
// flight, "tombstones" (partition key tomb, sort key expires) exactly the
// tombstones, each partitioned by namespace. [CreateTable] makes this
// table; the example broker ships it as a CloudFormation template
// (examples/awsbroker/deploy/state-table.yaml).
//
// # Reads and writes
//
// Get is a strongly consistent GetItem. Put is a PutItem conditional on
// attribute_not_exists(pk) for version 0 and on v = Version otherwise; a
// failed condition (ConditionalCheckFailedException) is
// [provisioner.ErrVersionConflict] and writes nothing — unless a
// consistent read finds the Put's own token: the SDK retried a PutItem
// whose first attempt was written but whose answer was lost (a 5xx, a
// broken connection), and the retry failed its condition on that write;
// that Put succeeded. So two replicas
// cannot both start an operation on one instance, nor both create its
// stack: the one whose Put lost never calls CloudFormation. Delete is a
// DeleteItem conditional on the version; when it fails, a consistent read
// tells ErrNotFound from ErrVersionConflict. InFlight and Expired query
// their index (cost: the records in flight or expired, not the table),
// then read the records found with consistent BatchGetItem calls and keep
// those that still qualify: an index lags its table, the answer does not
// lag the call. A record written just before InFlight may still be missed
// by the index; the Tracker's periodic rescan finds it at the next one.
//
// TTL deletes only tombstones (TombstoneGrace, default 24h, after the
// ExpiresAt at which the Tracker purges them itself) and leases (LeaseGrace,
// default 1h, after they end); a record that is not a tombstone has no
// "ttl" and never expires. DynamoDB deletes an expired item only while its
// ttl is still in the past, so a tombstone re-provisioned (rewritten
// without ttl) before the deletion runs is kept.
//
// # Leases
//
// A Tracker on a Store that is a [provisioner.Leaser] claims an
// operation's lease before every start, poll or end it records, and
// renews it on each. Claim is one PutItem on the lease item conditional on
//
//	attribute_not_exists(pk) OR owner = :me OR until < :now OR op <> :op
//
// so at most one live owner holds a lease at any time (DynamoDB evaluates
// the condition and the write atomically). A claim that fails reads the
// item and answers [provisioner.LeaseHeldError] with its owner and end;
// the Tracker then leaves the operation alone until that end. The owner
// renews the lease (until = when its next poll can be due + LeaseDuration)
// at each poll; when the
// operation ends it deletes the lease, conditional on being its owner.
// Every Tracker lists the operations in flight once per LeaseDuration and
// queues those it does not know, so it finds operations started by other
// replicas, and those of a replica that died.
//
// Failure cases handled:
//
//   - Two replicas get the same PUT at once: both try Put at the version
//     they read; one wins, the other gets ErrVersionConflict, reads again
//     and joins the winner's operation (or answers 409/422). Only the
//     winner calls CreateStack.
//   - A replica dies (SIGKILL, host lost) while holding leases: its
//     leases end at most LeaseDuration after its next poll was due; another replica's next look
//     (it queued the operation at the lease's end, or finds it at its
//     next rescan) claims the lease and polls, or restarts an operation
//     whose start call never returned (idempotently: CloudFormation's
//     ClientRequestToken is derived from the operation ID).
//   - A replica dies between recording an operation and calling the
//     backend: the record says not started; other replicas wait
//     CallTimeout after its creation before they start it themselves.
//   - A replica is paused (GC, network partition) past its lease, then
//     resumes: another replica may have claimed the lease meanwhile; the
//     paused one's next claim fails and it stops polling. Even if both
//     poll once, recording the end is a compare-and-swap on the record,
//     so the outcome is written once.
//   - A deprovision replaces the operation another replica leases: the
//     lease names the old operation, so the new one's claim succeeds at
//     once; the old owner finds its operation replaced and drops it.
//   - DynamoDB is unreachable: a Tracker that cannot claim does not poll,
//     and tries again after its backoff.
//
// Clocks: lease ends are the claimants' clocks; replicas' clocks must
// agree to well within LeaseDuration (NTP does).
//
// # Rate limits across replicas
//
// Leases divide the polling: each operation is polled by one replica at
// a time, so N replicas make the calls one would. Each replica still
// holds its own rate limiter for CloudFormation: give each limit/N of
// the account's budget (the example broker's -rate is per replica).
//
// # Concurrency and zero values
//
// A Store is safe for concurrent use by any number of goroutines and
// processes. The zero Store is not usable; build one with [New].
package dynamodb
