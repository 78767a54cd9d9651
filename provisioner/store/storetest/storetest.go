package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/credentials"
	"github.com/brokerkit/brokerkit/provisioner"
)

// Run checks the store contract, one parallel subtest per rule. It calls
// newStore once in each subtest, with the subtest's t: each call must
// return a store that holds no records and that no other call shares
// (for a remote store, a fresh table or namespace), and register its own
// clean-up with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) provisioner.Store) {
	t.Helper()
	for _, tc := range []struct {
		name string
		test func(t *testing.T, s provisioner.Store)
	}{
		{"GetMissing", testGetMissing},
		{"PutCreates", testPutCreates},
		{"PutCreateTwice", testPutCreateTwice},
		{"PutUpdates", testPutUpdates},
		{"PutStaleVersion", testPutStaleVersion},
		{"PutMissingWithVersion", testPutMissingWithVersion},
		{"PutInvalid", testPutInvalid},
		{"CopiesOnPut", testCopiesOnPut},
		{"CopiesOnRead", testCopiesOnRead},
		{"Delete", testDelete},
		{"InFlight", testInFlight},
		{"Expired", testExpired},
		{"RoundTrip", testRoundTrip},
		{"NumbersExact", testNumbersExact},
		{"ContextCanceled", testContextCanceled},
		{"ConcurrentCreate", testConcurrentCreate},
		{"ConcurrentIncrement", testConcurrentIncrement},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, newStore(t))
		})
	}
}

// newID returns an instance ID unique to this run, so that the suite
// also works against a store that keeps data between runs.
func newID(name string) string {
	var b [6]byte
	rand.Read(b[:])
	return name + "-" + hex.EncodeToString(b[:])
}

// record returns a small valid record whose operation has state st.
func record(id string, st provisioner.State) *provisioner.Record {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	return &provisioner.Record{
		InstanceID:       id,
		ServiceID:        "service-1",
		PlanID:           "plan-1",
		OrganizationGUID: "org-1",
		SpaceGUID:        "space-1",
		Parameters:       map[string]any{"name": "orders"},
		Operation: &provisioner.Operation{
			ID:        "op-" + id,
			Kind:      provisioner.KindProvision,
			State:     st,
			CreatedAt: now,
			UpdatedAt: now,
		},
	}
}

// fullRecord returns a record with every field set, values that survive
// JSON exactly (numbers as json.Number), and nesting in every map.
func fullRecord(id string) *provisioner.Record {
	usable, repeatable := true, false
	t0 := time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)
	return &provisioner.Record{
		InstanceID:       id,
		ServiceID:        "9f7c1e1a-service",
		PlanID:           "3b2d-plan-small",
		OrganizationGUID: "org-guid-1",
		SpaceGUID:        "space-guid-1",
		Context: map[string]any{
			"platform": "cloudfoundry",
			"labels":   map[string]any{"team": "data", "tier": json.Number("2")},
			"zones":    []any{"a", "b"},
		},
		Parameters: map[string]any{
			"retention_seconds": json.Number("1209600"),
			"ratio":             json.Number("0.25"),
			"big":               json.Number("12345678901234567890"),
			"encrypted":         true,
			"name":              "orders",
			"tags":              []any{"x", json.Number("7"), map[string]any{"k": "v"}},
			"nested":            map[string]any{"k": nil, "deeper": map[string]any{"n": json.Number("-3")}},
		},
		Secrets: map[string]provisioner.SecretValue{
			"password": {Digest: "hmac-sha256:3q2+7w==", Salt: []byte{1, 2, 3, 4}, Sealed: []byte("sealed-bytes")},
		},
		Resource:      "arn:aws:cloudformation:eu-west-1:123456789012:stack/x/1",
		Template:      "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Outputs:       map[string]string{"Endpoint": "db.example.com:5432"},
		SealedOutputs: map[string][]byte{"SecretAccessKey": []byte("sealed-output")},
		Target: credentials.Target{AccountID: "111111111111", RoleName: "broker", RoleARN: "arn:aws:iam::111111111111:role/broker", ExternalID: "ext-1",
			Region: "eu-west-1", SessionName: "s", Duration: 90 * time.Minute},
		Operation: &provisioner.Operation{
			ID:               "op-token-1",
			Kind:             provisioner.KindUpdate,
			State:            provisioner.InProgress,
			Description:      "updating",
			InstanceUsable:   &usable,
			UpdateRepeatable: &repeatable,
			Started:          true,
			After:            provisioner.KindProvision,
			AfterStarted:     true,
			Attempts:         2,
			LastAttempt:      t0.Add(500 * time.Millisecond),
			Change: &provisioner.Change{
				PlanID:             "plan-large",
				Parameters:         map[string]any{"retention_seconds": json.Number("86400"), "l": []any{json.Number("1")}},
				MaintenanceVersion: "2.0.0",
			},
			Status:     "UPDATE_IN_PROGRESS",
			Template:   "sha256:60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
			CreatedAt:  t0,
			UpdatedAt:  t0.Add(time.Second),
			FinishedAt: t0.Add(2 * time.Second).In(time.FixedZone("CET", 3600)),
			NextPoll:   t0.Add(3 * time.Second),
		},
		Deleted:   true,
		ExpiresAt: t0.Add(24 * time.Hour),
	}
}

func mustPut(t *testing.T, s provisioner.Store, rec *provisioner.Record) {
	t.Helper()
	if err := s.Put(t.Context(), rec); err != nil {
		t.Fatalf("Put(%s, version %d) = %v", rec.InstanceID, rec.Version, err)
	}
}

func mustGet(t *testing.T, s provisioner.Store, id string) *provisioner.Record {
	t.Helper()
	r, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%s) = %v", id, err)
	}
	return r
}

// same fails t unless the stored record of want.InstanceID equals want.
func same(t *testing.T, s provisioner.Store, want *provisioner.Record) {
	t.Helper()
	if diff := cmp.Diff(want, mustGet(t, s, want.InstanceID)); diff != "" {
		t.Errorf("stored record (-want +got):\n%s", diff)
	}
}

func testGetMissing(t *testing.T, s provisioner.Store) {
	r, err := s.Get(t.Context(), newID("missing"))
	if !errors.Is(err, provisioner.ErrNotFound) || r != nil {
		t.Errorf("Get of a missing ID = %v, %v; want nil, ErrNotFound", r, err)
	}
}

func testPutCreates(t *testing.T, s provisioner.Store) {
	rec := record(newID("create"), provisioner.InProgress)
	mustPut(t, s, rec)
	if rec.Version != 1 {
		t.Errorf("after creating Put, rec.Version = %d, want 1", rec.Version)
	}
	got := mustGet(t, s, rec.InstanceID)
	if got.Version != 1 {
		t.Errorf("stored Version = %d, want 1", got.Version)
	}
	if diff := cmp.Diff(rec, got); diff != "" {
		t.Errorf("stored record (-want +got):\n%s", diff)
	}
}

func testPutCreateTwice(t *testing.T, s provisioner.Store) {
	id := newID("twice")
	first := record(id, provisioner.InProgress)
	mustPut(t, s, first)
	second := record(id, provisioner.Succeeded)
	second.PlanID = "other-plan"
	if err := s.Put(t.Context(), second); !errors.Is(err, provisioner.ErrVersionConflict) {
		t.Fatalf("second Put at version 0 = %v, want ErrVersionConflict", err)
	}
	if second.Version != 0 {
		t.Errorf("failed Put set rec.Version to %d, want it left at 0", second.Version)
	}
	same(t, s, first)
}

func testPutUpdates(t *testing.T, s provisioner.Store) {
	rec := record(newID("update"), provisioner.InProgress)
	mustPut(t, s, rec)
	for want := uint64(2); want <= 4; want++ {
		rec = mustGet(t, s, rec.InstanceID)
		rec.Operation.Attempts++
		rec.Outputs = map[string]string{"round": fmt.Sprint(want)}
		mustPut(t, s, rec)
		if rec.Version != want {
			t.Fatalf("after update, rec.Version = %d, want %d", rec.Version, want)
		}
		same(t, s, rec)
	}
}

func testPutStaleVersion(t *testing.T, s provisioner.Store) {
	rec := record(newID("stale"), provisioner.InProgress)
	mustPut(t, s, rec)
	stale := rec.Clone() // version 1
	rec.Operation.State = provisioner.Succeeded
	mustPut(t, s, rec) // version 2
	want := rec.Clone()

	for _, v := range []uint64{0, 1, 3, 100} {
		w := stale.Clone()
		w.Version = v
		w.Operation.State = provisioner.Failed
		if err := s.Put(t.Context(), w); !errors.Is(err, provisioner.ErrVersionConflict) {
			t.Errorf("Put at version %d over version 2 = %v, want ErrVersionConflict", v, err)
		}
		if w.Version != v {
			t.Errorf("failed Put changed rec.Version from %d to %d", v, w.Version)
		}
	}
	same(t, s, want)
}

func testPutMissingWithVersion(t *testing.T, s provisioner.Store) {
	rec := record(newID("nothere"), provisioner.InProgress)
	rec.Version = 3
	if err := s.Put(t.Context(), rec); !errors.Is(err, provisioner.ErrVersionConflict) {
		t.Errorf("Put at version 3 of a missing record = %v, want ErrVersionConflict", err)
	}
	if _, err := s.Get(t.Context(), rec.InstanceID); !errors.Is(err, provisioner.ErrNotFound) {
		t.Errorf("after a failed Put, Get = %v, want ErrNotFound", err)
	}
}

func testPutInvalid(t *testing.T, s provisioner.Store) {
	noOp := record(newID("noop"), provisioner.InProgress)
	noOp.Operation = nil
	noID := record("", provisioner.InProgress)
	for name, rec := range map[string]*provisioner.Record{"nil Operation": noOp, "empty InstanceID": noID} {
		err := s.Put(t.Context(), rec)
		if err == nil || errors.Is(err, provisioner.ErrVersionConflict) || errors.Is(err, provisioner.ErrNotFound) {
			t.Errorf("Put of a record with %s = %v, want an error that is neither ErrVersionConflict nor ErrNotFound", name, err)
		}
		if rec.Version != 0 {
			t.Errorf("refused Put of a record with %s set Version to %d", name, rec.Version)
		}
	}
	if _, err := s.Get(t.Context(), noOp.InstanceID); !errors.Is(err, provisioner.ErrNotFound) {
		t.Errorf("after refusing a record without Operation, Get = %v, want ErrNotFound", err)
	}
}

// mutate changes every part of r that a careless store could share with
// its caller: top-level fields, maps, nested maps and slices, byte
// slices, the operation and what it points to.
func mutate(r *provisioner.Record) {
	r.PlanID = "mutated"
	r.Context["platform"] = "mutated"
	r.Context["labels"].(map[string]any)["team"] = "mutated"
	r.Context["zones"].([]any)[0] = "mutated"
	r.Parameters["name"] = "mutated"
	r.Parameters["new"] = "added"
	r.Parameters["nested"].(map[string]any)["deeper"].(map[string]any)["n"] = "mutated"
	r.Parameters["tags"].([]any)[2].(map[string]any)["k"] = "mutated"
	sv := r.Secrets["password"]
	sv.Salt[0] = 0xff
	sv.Sealed[0] = 'X'
	r.Secrets["other"] = provisioner.SecretValue{Digest: "added"}
	r.Outputs["Endpoint"] = "mutated"
	r.SealedOutputs["SecretAccessKey"][0] = 'X'
	r.SealedOutputs["other"] = []byte("added")
	r.Target.AccountID = "222222222222"
	op := r.Operation
	op.State = provisioner.Failed
	op.Attempts = 99
	*op.InstanceUsable = !*op.InstanceUsable
	*op.UpdateRepeatable = !*op.UpdateRepeatable
	op.Change.PlanID = "mutated"
	op.Change.Parameters["retention_seconds"] = "mutated"
	op.Change.Parameters["l"].([]any)[0] = "mutated"
}

func testCopiesOnPut(t *testing.T, s provisioner.Store) {
	rec := fullRecord(newID("copyput"))
	mustPut(t, s, rec)
	want := fullRecord(rec.InstanceID)
	want.Version = 1
	mutate(rec)
	same(t, s, want)

	// An update, too, must not keep the caller's maps.
	upd := fullRecord(rec.InstanceID)
	upd.Version = 1
	mustPut(t, s, upd)
	want.Version = 2
	mutate(upd)
	same(t, s, want)
}

func testCopiesOnRead(t *testing.T, s provisioner.Store) {
	rec := fullRecord(newID("copyread"))
	mustPut(t, s, rec)
	want := fullRecord(rec.InstanceID)
	want.Version = 1

	mutate(mustGet(t, s, rec.InstanceID))
	same(t, s, want)

	fl, err := s.InFlight(t.Context())
	if err != nil || len(fl) != 1 {
		t.Fatalf("InFlight = %d records, %v; want 1, nil", len(fl), err)
	}
	mutate(fl[0])
	same(t, s, want)
}

func testDelete(t *testing.T, s provisioner.Store) {
	ctx := t.Context()
	if err := s.Delete(ctx, newID("missing"), 1); !errors.Is(err, provisioner.ErrNotFound) {
		t.Errorf("Delete of a missing ID = %v, want ErrNotFound", err)
	}
	rec := record(newID("delete"), provisioner.Succeeded)
	mustPut(t, s, rec)
	mustPut(t, s, rec) // version 2
	for _, v := range []uint64{0, 1, 3} {
		if err := s.Delete(ctx, rec.InstanceID, v); !errors.Is(err, provisioner.ErrVersionConflict) {
			t.Errorf("Delete at version %d of version 2 = %v, want ErrVersionConflict", v, err)
		}
	}
	same(t, s, rec)
	if err := s.Delete(ctx, rec.InstanceID, 2); err != nil {
		t.Fatalf("Delete at the stored version = %v", err)
	}
	if _, err := s.Get(ctx, rec.InstanceID); !errors.Is(err, provisioner.ErrNotFound) {
		t.Errorf("Get after Delete = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, rec.InstanceID, 2); !errors.Is(err, provisioner.ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	// A writer that read the record before the delete must not bring it
	// back; a creator may use the ID again.
	if err := s.Put(ctx, rec); !errors.Is(err, provisioner.ErrVersionConflict) {
		t.Errorf("Put at version 2 after Delete = %v, want ErrVersionConflict", err)
	}
	again := record(rec.InstanceID, provisioner.InProgress)
	mustPut(t, s, again)
	if again.Version != 1 {
		t.Errorf("re-creating a deleted ID gave version %d, want 1", again.Version)
	}
}

func inFlightIDs(t *testing.T, s provisioner.Store) []string {
	t.Helper()
	recs, err := s.InFlight(t.Context())
	if err != nil {
		t.Fatalf("InFlight = %v", err)
	}
	var ids []string
	for _, r := range recs {
		if !r.InFlight() {
			t.Errorf("InFlight returned %s, whose operation is %q", r.InstanceID, r.Operation.State)
		}
		if diff := cmp.Diff(mustGet(t, s, r.InstanceID), r); diff != "" {
			t.Errorf("InFlight's %s differs from Get's (-get +inflight):\n%s", r.InstanceID, diff)
		}
		ids = append(ids, r.InstanceID)
	}
	slices.Sort(ids)
	return ids
}

func sorted(ids ...string) []string {
	if len(ids) == 0 {
		return nil
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

func testInFlight(t *testing.T, s provisioner.Store) {
	ctx := t.Context()
	if ids := inFlightIDs(t, s); len(ids) != 0 {
		t.Fatalf("InFlight of an empty store = %v", ids)
	}
	a := record(newID("a"), provisioner.InProgress)
	b := record(newID("b"), provisioner.Succeeded)
	c := record(newID("c"), provisioner.Failed)
	d := record(newID("d"), provisioner.InProgress)
	d.Operation.Kind = provisioner.KindDeprovision
	for _, r := range []*provisioner.Record{a, b, c, d} {
		mustPut(t, s, r)
	}
	check := func(when string, want ...string) {
		t.Helper()
		if diff := cmp.Diff(sorted(want...), inFlightIDs(t, s)); diff != "" {
			t.Errorf("InFlight %s (-want +got):\n%s", when, diff)
		}
	}
	check("after creation", a.InstanceID, d.InstanceID)

	a.Operation.State = provisioner.Succeeded
	mustPut(t, s, a)
	check("after a succeeded", d.InstanceID)

	if err := s.Delete(ctx, d.InstanceID, d.Version); err != nil {
		t.Fatal(err)
	}
	check("after d was deleted")

	b.Operation = &provisioner.Operation{ID: "op-2", Kind: provisioner.KindUpdate, State: provisioner.InProgress}
	mustPut(t, s, b)
	check("after b started an update", b.InstanceID)

	// A failed write changes no index.
	stale := c.Clone()
	stale.Version = 7
	stale.Operation.State = provisioner.InProgress
	if err := s.Put(ctx, stale); !errors.Is(err, provisioner.ErrVersionConflict) {
		t.Fatalf("stale Put = %v", err)
	}
	check("after a stale Put", b.InstanceID)
}

func expiredIDs(t *testing.T, s provisioner.Store, at time.Time) []string {
	t.Helper()
	ids, err := s.Expired(t.Context(), at)
	if err != nil {
		t.Fatalf("Expired(%v) = %v", at, err)
	}
	return sorted(ids...)
}

func testExpired(t *testing.T, s provisioner.Store) {
	ctx := t.Context()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	if ids := expiredIDs(t, s, now); len(ids) != 0 {
		t.Fatalf("Expired of an empty store = %v", ids)
	}
	tomb := func(name string, at time.Time) *provisioner.Record {
		r := record(newID(name), provisioner.Succeeded)
		r.Operation.Kind = provisioner.KindDeprovision
		r.Deleted = true
		r.ExpiresAt = at
		mustPut(t, s, r)
		return r
	}
	e1 := tomb("e1", now.Add(-2*time.Hour))
	e2 := tomb("e2", now.Add(-time.Nanosecond))
	e3 := tomb("e3", now.Add(time.Hour))
	e4 := tomb("e4", now) // not before now
	live := record(newID("live"), provisioner.Succeeded)
	live.ExpiresAt = now.Add(-3 * time.Hour) // not a tombstone
	mustPut(t, s, live)

	check := func(when string, at time.Time, want ...string) {
		t.Helper()
		if diff := cmp.Diff(sorted(want...), expiredIDs(t, s, at)); diff != "" {
			t.Errorf("Expired(%v) %s (-want +got):\n%s", at, when, diff)
		}
	}
	check("", now, e1.InstanceID, e2.InstanceID)
	check("", now.Add(-2*time.Hour), nil...)
	check("", now.Add(2*time.Hour), e1.InstanceID, e2.InstanceID, e3.InstanceID, e4.InstanceID)

	e1.ExpiresAt = now.Add(3 * time.Hour)
	mustPut(t, s, e1)
	check("after e1's expiry moved later", now, e2.InstanceID)

	e2.Deleted = false
	e2.ExpiresAt = time.Time{}
	e2.Operation = &provisioner.Operation{ID: "op-again", Kind: provisioner.KindProvision, State: provisioner.InProgress}
	mustPut(t, s, e2)
	check("after e2 was provisioned again", now)

	if err := s.Delete(ctx, e3.InstanceID, e3.Version); err != nil {
		t.Fatal(err)
	}
	check("after e3 was purged", now.Add(2*time.Hour), e4.InstanceID)
	check("", now.Add(4*time.Hour), e1.InstanceID, e4.InstanceID)
}

func testRoundTrip(t *testing.T, s provisioner.Store) {
	rec := fullRecord(newID("roundtrip"))
	assertAllSet(t, "Record", reflect.ValueOf(rec).Elem())
	mustPut(t, s, rec)
	want := fullRecord(rec.InstanceID)
	want.Version = 1
	same(t, s, want)

	// The same record through JSON, as a store that encodes would see it.
	data, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	viaJSON := new(provisioner.Record)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(viaJSON); err != nil {
		t.Fatal(err)
	}
	same(t, s, viaJSON)
}

// assertAllSet fails t for each zero field of v, following pointers and
// map values, so that a field added to Record without a value in
// fullRecord does not escape the round trip.
func assertAllSet(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			t.Errorf("fullRecord leaves %s nil", path)
			return
		}
		if v.Elem().Kind() == reflect.Bool {
			return // *bool: set is enough, false is a value
		}
		assertAllSet(t, path, v.Elem())
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			if v.Interface().(time.Time).IsZero() {
				t.Errorf("fullRecord leaves %s zero", path)
			}
			return
		}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			assertAllSet(t, path+"."+f.Name, v.Field(i))
		}
	case reflect.Map:
		if v.Len() == 0 {
			t.Errorf("fullRecord leaves %s empty", path)
		}
		if v.Type().Elem().Kind() == reflect.Struct {
			for _, k := range v.MapKeys() {
				assertAllSet(t, fmt.Sprintf("%s[%v]", path, k), v.MapIndex(k))
			}
		}
	default:
		if v.IsZero() && path != "Record.Version" { // Put sets Version
			t.Errorf("fullRecord leaves %s zero", path)
		}
	}
}

func testNumbersExact(t *testing.T, s provisioner.Store) {
	rec := record(newID("numbers"), provisioner.InProgress)
	rec.Parameters = map[string]any{
		"retention_seconds": json.Number("1209600"),
		"big":               json.Number("12345678901234567890"),
		"nested":            map[string]any{"n": json.Number("1209600")},
	}
	rec.Operation.Change = &provisioner.Change{Parameters: map[string]any{"retention_seconds": json.Number("1209600")}}
	mustPut(t, s, rec)
	got := mustGet(t, s, rec.InstanceID)
	for name, v := range map[string]any{
		"Parameters[retention_seconds]":           got.Parameters["retention_seconds"],
		"Parameters[big]":                         got.Parameters["big"],
		"Parameters[nested][n]":                   nestedValue(got.Parameters["nested"], "n"),
		"Operation.Change.Parameters[retention…]": changeParam(got, "retention_seconds"),
	} {
		want := "1209600"
		if name == "Parameters[big]" {
			want = "12345678901234567890"
		}
		if str := fmt.Sprint(v); str != want {
			t.Errorf("%s came back as %T %s, want a value printing %s", name, v, str, want)
		}
	}
}

func nestedValue(m any, k string) any {
	if mm, ok := m.(map[string]any); ok {
		return mm[k]
	}
	return nil
}

func changeParam(r *provisioner.Record, k string) any {
	if r.Operation == nil || r.Operation.Change == nil {
		return nil
	}
	return r.Operation.Change.Parameters[k]
}

func testContextCanceled(t *testing.T, s provisioner.Store) {
	existing := record(newID("ctx"), provisioner.InProgress)
	mustPut(t, s, existing)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	rec := record(newID("ctx"), provisioner.InProgress)
	upd := existing.Clone()
	upd.Operation.State = provisioner.Succeeded
	for name, call := range map[string]func() error{
		"Get":      func() error { _, err := s.Get(ctx, existing.InstanceID); return err },
		"Put":      func() error { return s.Put(ctx, rec) },
		"Put/upd":  func() error { return s.Put(ctx, upd) },
		"Delete":   func() error { return s.Delete(ctx, existing.InstanceID, 1) },
		"InFlight": func() error { _, err := s.InFlight(ctx); return err },
		"Expired":  func() error { _, err := s.Expired(ctx, time.Now()); return err },
	} {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want context.Canceled", name, err)
		}
	}
	if _, err := s.Get(t.Context(), rec.InstanceID); !errors.Is(err, provisioner.ErrNotFound) {
		t.Errorf("Put with a cancelled context wrote: Get = %v", err)
	}
	same(t, s, existing)
}

func testConcurrentCreate(t *testing.T, s provisioner.Store) {
	const n = 100
	id := newID("race")
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := record(id, provisioner.InProgress)
			r.Operation.Description = fmt.Sprint("creator ", i)
			errs[i] = s.Put(t.Context(), r)
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("creators %d and %d both succeeded", winner, i)
			}
			winner = i
		case !errors.Is(err, provisioner.ErrVersionConflict):
			t.Errorf("creator %d: Put = %v, want nil or ErrVersionConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no creator succeeded")
	}
	got := mustGet(t, s, id)
	if want := fmt.Sprint("creator ", winner); got.Version != 1 || got.Operation.Description != want {
		t.Errorf("stored record: version %d by %q; want version 1 by %q", got.Version, got.Operation.Description, want)
	}
}

func testConcurrentIncrement(t *testing.T, s provisioner.Store) {
	const n = 50
	rec := record(newID("counter"), provisioner.InProgress)
	mustPut(t, s, rec)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			for try := 0; ; try++ {
				if try == 10_000 {
					t.Errorf("incrementer %d: no success in %d tries", i, try)
					return
				}
				r, err := s.Get(t.Context(), rec.InstanceID)
				if err != nil {
					t.Errorf("incrementer %d: Get = %v", i, err)
					return
				}
				r.Operation.Attempts++
				err = s.Put(t.Context(), r)
				if errors.Is(err, provisioner.ErrVersionConflict) {
					continue
				}
				if err != nil {
					t.Errorf("incrementer %d: Put = %v", i, err)
				}
				return
			}
		})
	}
	wg.Wait()
	got := mustGet(t, s, rec.InstanceID)
	if got.Operation.Attempts != n || got.Version != n+1 {
		t.Errorf("after %d increments: counter %d at version %d, want %d at version %d", n, got.Operation.Attempts, got.Version, n, n+1)
	}
}
