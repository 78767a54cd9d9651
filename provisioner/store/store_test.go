package store_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/store"
	"github.com/brokerkit/brokerkit/provisioner/store/storetest"
)

func TestMemoryContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) provisioner.Store { return store.NewMemory() })
}

func TestMemoryZeroValue(t *testing.T) {
	storetest.Run(t, func(t *testing.T) provisioner.Store { return new(store.Memory) })
}

func TestLeasedMemoryContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) provisioner.Store { return store.NewMemory().Leased() })
	storetest.RunLeaser(t, func(t *testing.T) provisioner.Leaser { return store.NewMemory().Leased() })
}

// TestBoltContract runs the contract with fsync on, as in production.
func TestBoltContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) provisioner.Store {
		return openBolt(t, filepath.Join(t.TempDir(), "store.db"), store.BoltOptions{})
	})
}

// TestBoltContractCache runs the contract without the cache of decoded
// records and with a cache of one record, which evicts on every other
// read.
func TestBoltContractCache(t *testing.T) {
	for _, n := range []int{-1, 1} {
		t.Run(fmt.Sprint("CachedRecords=", n), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) provisioner.Store {
				return openBolt(t, filepath.Join(t.TempDir(), "store.db"), store.BoltOptions{NoSync: true, CachedRecords: n})
			})
		})
	}
}

// TestBoltCacheIsolation checks that a record read from the cache is the
// caller's own: changing every part of one Get's result changes neither
// the store nor the next Get's result; and that a record written again is
// read anew.
func TestBoltCacheIsolation(t *testing.T) {
	t.Parallel()
	s := openBolt(t, filepath.Join(t.TempDir(), "store.db"), store.BoltOptions{NoSync: true})
	rec := record("i-1", provisioner.InProgress)
	rec.Context = map[string]any{"platform": "cloudfoundry", "nested": map[string]any{"a": []any{"b"}}}
	rec.SealedOutputs = map[string][]byte{"Secret": []byte("sealed")}
	rec.Operation.Change = &provisioner.Change{Parameters: map[string]any{"size": "large"}}
	if err := s.Put(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	first, err := s.Get(t.Context(), "i-1")
	if err != nil {
		t.Fatal(err)
	}
	want := first.Clone()
	for range 3 { // a miss, then hits
		got, err := s.Get(t.Context(), "i-1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("Get after changing an earlier result (-want +got):\n%s", diff)
		}
		got.Parameters["name"] = "changed"
		got.Context["nested"].(map[string]any)["a"].([]any)[0] = "changed"
		got.Secrets["password"].Salt[0] = 'X'
		got.Outputs["Endpoint"] = "changed"
		got.SealedOutputs["Secret"][0] = 'X'
		got.Operation.State = provisioner.Failed
		got.Operation.Change.Parameters["size"] = "changed"
	}
	next := want.Clone()
	next.Operation.State = provisioner.Succeeded
	if err := s.Put(t.Context(), next); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(t.Context(), "i-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Operation.State != provisioner.Succeeded || got.Version != next.Version {
		t.Errorf("after a Put: state %s version %d, want %s %d (a stale cached record?)", got.Operation.State, got.Version, provisioner.Succeeded, next.Version)
	}
}

func openBolt(t testing.TB, path string, opts store.BoltOptions) *store.Bolt {
	t.Helper()
	b, err := store.OpenBolt(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func record(id string, st provisioner.State) *provisioner.Record {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	return &provisioner.Record{
		InstanceID:       id,
		ServiceID:        "service-1",
		PlanID:           "plan-1",
		OrganizationGUID: "org-1",
		SpaceGUID:        "space-1",
		Parameters:       map[string]any{"name": "orders", "retention_seconds": json.Number("1209600")},
		Secrets: map[string]provisioner.SecretValue{
			"password": {Digest: "hmac-sha256:3q2+7w==", Salt: []byte("0123456789abcdef")},
		},
		Resource: "arn:aws:cloudformation:eu-west-1:123456789012:stack/x/1",
		Outputs:  map[string]string{"Endpoint": "db.example.com:5432"},
		Operation: &provisioner.Operation{
			ID:        "op-" + id,
			Kind:      provisioner.KindProvision,
			State:     st,
			CreatedAt: now,
			UpdatedAt: now,
		},
	}
}

// TestBoltReopen is the restart case: what was acknowledged before Close
// is there after OpenBolt, indexes included, and the version goes on.
func TestBoltReopen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "store.db")
	b, err := store.OpenBolt(path, store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	running := record("running", provisioner.InProgress)
	done := record("done", provisioner.Succeeded)
	tomb := record("tomb", provisioner.Succeeded)
	tomb.Deleted = true
	tomb.ExpiresAt = time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC)
	for _, r := range []*provisioner.Record{running, done, tomb} {
		if err := b.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Put(ctx, done); err != nil { // version 2
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "done"); err == nil {
		t.Error("Get after Close succeeded")
	}

	b = openBolt(t, path, store.BoltOptions{})
	for _, want := range []*provisioner.Record{running, done, tomb} {
		got, err := b.Get(ctx, want.InstanceID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s after reopening (-want +got):\n%s", want.InstanceID, diff)
		}
	}
	fl, err := b.InFlight(ctx)
	if err != nil || len(fl) != 1 || fl[0].InstanceID != "running" {
		t.Errorf("InFlight after reopening = %v, %v; want [running]", fl, err)
	}
	exp, err := b.Expired(ctx, tomb.ExpiresAt.Add(time.Second))
	if err != nil || !cmp.Equal(exp, []string{"tomb"}) {
		t.Errorf("Expired after reopening = %v, %v; want [tomb]", exp, err)
	}
	if err := b.Put(ctx, done); err != nil || done.Version != 3 {
		t.Errorf("Put after reopening = %v, version %d; want nil, 3", err, done.Version)
	}
}

// TestBoltSecondOpen checks the single-process rule: while one Bolt has
// the file, another OpenBolt (in this process or another) waits for the
// timeout and fails naming the file.
func TestBoltSecondOpen(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		want    time.Duration
	}{
		{"explicit timeout", 200 * time.Millisecond, 200 * time.Millisecond},
		{"default timeout", 0, store.DefaultLockTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "store.db")
			openBolt(t, path, store.BoltOptions{})
			start := time.Now()
			b, err := store.OpenBolt(path, store.BoltOptions{Timeout: tc.timeout})
			elapsed := time.Since(start)
			if err == nil {
				b.Close()
				t.Fatal("second OpenBolt of an open file succeeded")
			}
			if !errors.Is(err, store.ErrLocked) || !errors.Is(err, bolt.ErrTimeout) {
				t.Errorf("second OpenBolt = %v, want ErrLocked wrapping bbolt's ErrTimeout", err)
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "another process") {
				t.Errorf("error %q does not name the file and the reason", msg)
			}
			if elapsed < tc.want-100*time.Millisecond || elapsed > tc.want+2*time.Second {
				t.Errorf("second OpenBolt failed after %v, want about %v", elapsed, tc.want)
			}
			t.Logf("error after %v: %v", elapsed.Round(time.Millisecond), err)
		})
	}
}

func TestBoltFileMode(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db")
	openBolt(t, path, store.BoltOptions{})
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("file mode %v, want 0600", perm)
	}
}

// rawUpdate changes a closed store file with bbolt directly.
func rawUpdate(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func TestBoltRefusesUnknownFormats(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		setup  func(t *testing.T, path string)
		reason string
	}{
		{
			name: "newer format",
			setup: func(t *testing.T, path string) {
				openBolt(t, path, store.BoltOptions{}).Close()
				rawUpdate(t, path, func(tx *bolt.Tx) error {
					return tx.Bucket([]byte("meta")).Put([]byte("format"), []byte("2"))
				})
			},
			reason: `format "2" (this version reads format 1)`,
		},
		{
			name: "format key missing",
			setup: func(t *testing.T, path string) {
				openBolt(t, path, store.BoltOptions{}).Close()
				rawUpdate(t, path, func(tx *bolt.Tx) error {
					return tx.Bucket([]byte("meta")).Delete([]byte("format"))
				})
			},
			reason: `format ""`,
		},
		{
			name: "other bbolt file",
			setup: func(t *testing.T, path string) {
				rawUpdate(t, path, func(tx *bolt.Tx) error {
					_, err := tx.CreateBucket([]byte("widgets"))
					return err
				})
			},
			reason: `not a store`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "store.db")
			tc.setup(t, path)
			b, err := store.OpenBolt(path, store.BoltOptions{})
			if err == nil {
				b.Close()
				t.Fatal("OpenBolt succeeded")
			}
			if !errors.Is(err, store.ErrUnknownFormat) || !strings.Contains(err.Error(), tc.reason) || !strings.Contains(err.Error(), path) {
				t.Errorf("OpenBolt = %v, want ErrUnknownFormat naming the file and %q", err, tc.reason)
			}
		})
	}

	t.Run("not a bbolt file", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "store.db")
		if err := os.WriteFile(path, []byte(strings.Repeat("not a database\n", 1000)), 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := store.OpenBolt(path, store.BoltOptions{})
		if err == nil {
			b.Close()
			t.Fatal("OpenBolt succeeded")
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("OpenBolt = %v, want an error naming the file", err)
		}
	})
}

// TestBoltCorruptRecord writes invalid JSON where a record should be:
// every call that reads it fails naming the ID, none panics, and the
// other records stay usable.
func TestBoltCorruptRecord(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "store.db")
	b := openBolt(t, path, store.BoltOptions{})
	bad := record("bad-id", provisioner.InProgress)
	good := record("good-id", provisioner.InProgress)
	for _, r := range []*provisioner.Record{bad, good} {
		if err := b.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("instances")).Put([]byte("bad-id"), []byte(`{"instance_id": "bad-id", "version": `))
	})
	b = openBolt(t, path, store.BoltOptions{})

	check := func(call string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(fmt.Sprint(err), `"bad-id"`) {
			t.Errorf("%s of a corrupt record = %v, want ErrCorrupt naming \"bad-id\"", call, err)
		}
	}
	_, err := b.Get(ctx, "bad-id")
	check("Get", err)
	check("Put", b.Put(ctx, bad))
	check("Delete", b.Delete(ctx, "bad-id", 1))
	_, err = b.InFlight(ctx)
	check("InFlight", err)

	if _, err := b.Get(ctx, "good-id"); err != nil {
		t.Errorf("Get of an intact record = %v", err)
	}
	if err := b.Put(ctx, good); err != nil {
		t.Errorf("Put of an intact record = %v", err)
	}
}

// TestExpiredExtremeTimes: the expiry index orders every time exactly,
// the zero time and years whose Unix nanoseconds do not fit an int64
// included.
func TestExpiredExtremeTimes(t *testing.T) {
	t.Parallel()
	for name, s := range map[string]provisioner.Store{
		"Memory": store.NewMemory(),
		"Bolt":   openBolt(t, filepath.Join(t.TempDir(), "store.db"), store.BoltOptions{}),
	} {
		ctx := t.Context()
		zero := record("zero", provisioner.Succeeded)
		zero.Deleted = true
		old := record("old", provisioner.Succeeded)
		old.Deleted = true
		old.ExpiresAt = time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)
		far := record("far", provisioner.Succeeded)
		far.Deleted = true
		far.ExpiresAt = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
		for _, r := range []*provisioner.Record{zero, old, far} {
			if err := s.Put(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			at   time.Time
			want []string
		}{
			{time.Time{}, nil},
			{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), []string{"zero", "old"}},
			{time.Date(3001, 1, 1, 0, 0, 0, 0, time.UTC), []string{"zero", "old", "far"}},
		} {
			got, err := s.Expired(ctx, tc.at)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b []string) bool { return len(a) == 0 && len(b) == 0 || cmp.Equal(a, b) })); diff != "" {
				t.Errorf("%s: Expired(%v) (-want +got):\n%s", name, tc.at, diff)
			}
		}
	}
}

func BenchmarkBoltPut(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts store.BoltOptions
	}{
		{"fsync", store.BoltOptions{}},
		{"NoSync", store.BoltOptions{NoSync: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := openBolt(b, filepath.Join(b.TempDir(), "store.db"), bc.opts)
			rec := record("bench", provisioner.InProgress)
			for b.Loop() {
				rec.Operation.Attempts++
				if err := s.Put(b.Context(), rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBoltGet reads 1,000 records round robin, with the cache of
// decoded records (as last_operation polls read them) and without.
func BenchmarkBoltGet(b *testing.B) {
	b.Run("cache=on", func(b *testing.B) { benchBoltGet(b, 0) })
	b.Run("cache=off", func(b *testing.B) { benchBoltGet(b, -1) })
}

func benchBoltGet(b *testing.B, cached int) {
	s := openBolt(b, filepath.Join(b.TempDir(), "store.db"), store.BoltOptions{NoSync: true, CachedRecords: cached})
	const n = 1000
	for i := range n {
		if err := s.Put(b.Context(), record(fmt.Sprint("i-", i), provisioner.Succeeded)); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		if _, err := s.Get(b.Context(), fmt.Sprint("i-", i%n)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkMemoryPut(b *testing.B) {
	s := store.NewMemory()
	rec := record("bench", provisioner.InProgress)
	for b.Loop() {
		rec.Operation.Attempts++
		if err := s.Put(b.Context(), rec); err != nil {
			b.Fatal(err)
		}
	}
}

// The InFlight benchmarks hold 1,000 records in flight among 10,000 (and,
// to show that the cost follows the records in flight, among 1,000).
func BenchmarkBoltInFlight(b *testing.B) {
	for _, total := range []int{10_000, 1_000} {
		b.Run(fmt.Sprint("records=", total), func(b *testing.B) {
			benchInFlight(b, openBolt(b, filepath.Join(b.TempDir(), "store.db"), store.BoltOptions{NoSync: true}), total)
		})
	}
}

func BenchmarkMemoryInFlight(b *testing.B) {
	benchInFlight(b, store.NewMemory(), 10_000)
}

func benchInFlight(b *testing.B, s provisioner.Store, total int) {
	const inFlight = 1_000
	for i := range total {
		st := provisioner.Succeeded
		if i%(total/inFlight) == 0 {
			st = provisioner.InProgress
		}
		if err := s.Put(b.Context(), record(fmt.Sprintf("i-%05d", i), st)); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		recs, err := s.InFlight(b.Context())
		if err != nil || len(recs) != inFlight {
			b.Fatalf("InFlight = %d records, %v; want %d", len(recs), err, inFlight)
		}
	}
}
