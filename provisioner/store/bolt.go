package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/brokerkit/brokerkit/provisioner"
)

var _ provisioner.Store = (*Bolt)(nil)

// The file layout; see the package documentation.
var (
	bucketMeta      = []byte("meta")
	bucketInstances = []byte("instances")
	bucketInFlight  = []byte("inflight")
	bucketExpiry    = []byte("expiry")
	keyFormat       = []byte("format")
)

// formatVersion is the layout this code reads and writes. A change that
// an older version would misread gets a new number.
const formatVersion = "1"

// DefaultLockTimeout is how long OpenBolt waits for the file lock when
// BoltOptions.Timeout is zero.
const DefaultLockTimeout = time.Second

// BoltOptions configure [OpenBolt]. The zero value is the production
// setting: wait [DefaultLockTimeout] for the lock, fsync every write.
type BoltOptions struct {
	// Timeout is how long to wait for the file lock that another process
	// (or another open Bolt) holds; 0 means DefaultLockTimeout. OpenBolt
	// then fails with ErrLocked.
	Timeout time.Duration
	// NoSync skips the fsync after each write, so a crash of the machine
	// (not only of the process) may lose acknowledged writes or corrupt
	// the file. For tests and benchmarks only.
	NoSync bool
	// CachedRecords bounds the cache of decoded records that makes Get
	// cheap for records read again unchanged, as last_operation polls
	// do: 0 means DefaultCachedRecords, a negative value no cache. Each
	// cached record costs about its stored size twice (the stored bytes,
	// to tell that it is unchanged, and the decoded record).
	CachedRecords int
}

// DefaultCachedRecords is the size of Bolt's cache of decoded records
// when BoltOptions.CachedRecords is zero.
const DefaultCachedRecords = 10_000

// Bolt is a durable [provisioner.Store] in one file, written with bbolt
// (go.etcd.io/bbolt). Every Put and Delete is one bbolt write transaction
// that reads the stored version, compares it and writes the record and
// its index entries, and is fsynced before it returns (unless
// BoltOptions.NoSync). bbolt runs one write transaction at a time, so the
// compare-and-swap is exact across goroutines; reads run concurrently
// with each other and with the writer and see a consistent snapshot.
//
// Get keeps the records it decodes in a bounded cache
// (BoltOptions.CachedRecords) and, on each read, uses a cached record only
// if the stored bytes are those it was decoded from, so a read never
// returns a stale record; it returns a copy, which the caller owns.
//
// Only one process can have the file open: OpenBolt takes an exclusive
// lock on it (flock), held until Close. A Bolt therefore serves a single
// broker process; replicas need a shared store.
//
// A Bolt is safe for concurrent use. Build it with [OpenBolt]; the zero
// value is not usable.
type Bolt struct {
	db    *bolt.DB
	path  string
	cache *recordCache // nil: no cache
}

// OpenBolt opens the store in the file at path, creating it (mode 0600,
// with the buckets of format 1) if it does not exist. It copies opts.
//
// It fails with [ErrLocked] if another process holds the file for longer
// than opts.Timeout (default 1s), and with [ErrUnknownFormat] if the file
// is a bbolt file of another layout or of a format this version does not
// read. Every error names path.
func OpenBolt(path string, opts BoltOptions) (*Bolt, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultLockTimeout
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout, NoSync: opts.NoSync})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s: no lock within %s (only one process may open a store file): %w", ErrLocked, path, opts.Timeout, err)
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return initFile(tx, path) }); err != nil {
		db.Close()
		return nil, err
	}
	b := &Bolt{db: db, path: path}
	if opts.CachedRecords >= 0 {
		b.cache = newRecordCache(cmp.Or(opts.CachedRecords, DefaultCachedRecords))
	}
	return b, nil
}

// initFile lays out a new file, or checks that an existing one has the
// layout this code writes.
func initFile(tx *bolt.Tx, path string) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		if other, _ := tx.Cursor().First(); other != nil {
			return fmt.Errorf("%w: %s: a bbolt file without a %q bucket (it has %q), not a store", ErrUnknownFormat, path, bucketMeta, other)
		}
		for _, name := range [][]byte{bucketMeta, bucketInstances, bucketInFlight, bucketExpiry} {
			if _, err := tx.CreateBucket(name); err != nil {
				return fmt.Errorf("store: open %s: create bucket %q: %w", path, name, err)
			}
		}
		if err := tx.Bucket(bucketMeta).Put(keyFormat, []byte(formatVersion)); err != nil {
			return fmt.Errorf("store: open %s: %w", path, err)
		}
		return nil
	}
	if f := meta.Get(keyFormat); string(f) != formatVersion {
		return fmt.Errorf("%w: %s: format %q (this version reads format %s)", ErrUnknownFormat, path, f, formatVersion)
	}
	for _, name := range [][]byte{bucketInstances, bucketInFlight, bucketExpiry} {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("%w: %s: a format %s file without a %q bucket", ErrCorrupt, path, formatVersion, name)
		}
	}
	return nil
}

// Close releases the file and its lock. Calls after Close fail.
func (b *Bolt) Close() error {
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", b.path, err)
	}
	return nil
}

// Get returns the record of instanceID, or [provisioner.ErrNotFound]. A
// record that does not decode is an error wrapping [ErrCorrupt] that
// names instanceID.
func (b *Bolt) Get(ctx context.Context, instanceID string) (*provisioner.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var rec *provisioner.Record
	err := b.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketInstances).Get([]byte(instanceID))
		if v == nil {
			return provisioner.ErrNotFound
		}
		if rec = b.cache.get(instanceID, v); rec != nil {
			return nil
		}
		var err error
		rec, err = decode(instanceID, v)
		if err == nil {
			b.cache.put(instanceID, v, rec)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// Put writes rec if the stored version equals rec.Version (0: no record
// may exist) and sets rec.Version to the new version, one more than the
// old; the write is fsynced before Put returns. Otherwise it returns
// [provisioner.ErrVersionConflict] and writes nothing. A record without an
// InstanceID or an Operation is refused with [ErrInvalidRecord].
func (b *Bolt) Put(ctx context.Context, rec *provisioner.Record) error {
	if err := validate(rec); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var version uint64
	err := b.db.Update(func(tx *bolt.Tx) error {
		id := []byte(rec.InstanceID)
		instances := tx.Bucket(bucketInstances)
		var old *indexed
		if v := instances.Get(id); v != nil {
			var err error
			if old, err = decodeIndexed(rec.InstanceID, v); err != nil {
				return err
			}
		}
		var stored uint64
		if old != nil {
			stored = old.Version
		}
		if stored != rec.Version {
			return provisioner.ErrVersionConflict
		}
		c := *rec
		c.Version = stored + 1
		data, err := json.Marshal(&c)
		if err != nil {
			return fmt.Errorf("store: encode record %q: %w", rec.InstanceID, err)
		}
		if err := instances.Put(id, data); err != nil {
			return err
		}
		if err := setInFlight(tx, id, c.InFlight()); err != nil {
			return err
		}
		if old != nil && old.Deleted {
			if err := tx.Bucket(bucketExpiry).Delete(expiryKey(old.ExpiresAt, id)); err != nil {
				return err
			}
		}
		if c.Deleted {
			if err := tx.Bucket(bucketExpiry).Put(expiryKey(c.ExpiresAt, id), nil); err != nil {
				return err
			}
		}
		version = c.Version
		return nil
	})
	if err != nil {
		return b.wrap(err, "put", rec.InstanceID)
	}
	rec.Version = version
	return nil
}

// Delete removes the record of instanceID and its index entries if its
// version equals version, else returns [provisioner.ErrVersionConflict];
// [provisioner.ErrNotFound] if there is none.
func (b *Bolt) Delete(ctx context.Context, instanceID string, version uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := b.db.Update(func(tx *bolt.Tx) error {
		id := []byte(instanceID)
		instances := tx.Bucket(bucketInstances)
		v := instances.Get(id)
		if v == nil {
			return provisioner.ErrNotFound
		}
		old, err := decodeIndexed(instanceID, v)
		if err != nil {
			return err
		}
		if old.Version != version {
			return provisioner.ErrVersionConflict
		}
		if err := instances.Delete(id); err != nil {
			return err
		}
		if err := setInFlight(tx, id, false); err != nil {
			return err
		}
		if old.Deleted {
			return tx.Bucket(bucketExpiry).Delete(expiryKey(old.ExpiresAt, id))
		}
		return nil
	})
	if err == nil {
		b.cache.forget(instanceID)
	}
	return b.wrap(err, "delete", instanceID)
}

// InFlight returns the records whose operation is in progress, sorted by
// instance ID, from one snapshot. It reads the "inflight" index and then
// only those records.
func (b *Bolt) InFlight(ctx context.Context) ([]*provisioner.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*provisioner.Record
	err := b.db.View(func(tx *bolt.Tx) error {
		inflight := tx.Bucket(bucketInFlight)
		instances := tx.Bucket(bucketInstances)
		return inflight.ForEach(func(id, _ []byte) error {
			v := instances.Get(id)
			if v == nil {
				return fmt.Errorf("%w: %q is in the inflight index but has no record", ErrCorrupt, id)
			}
			rec, err := decode(string(id), v)
			if err != nil {
				return err
			}
			out = append(out, rec)
			return nil
		})
	})
	if err != nil {
		return nil, b.wrap(err, "inflight", "")
	}
	return out, nil
}

// Expired returns the IDs of tombstones whose ExpiresAt is before t,
// earliest first (ties by ID). It is a range scan of the "expiry" index.
// A tombstone with a zero ExpiresAt is expired at any t after the zero
// time.
func (b *Bolt) Expired(ctx context.Context, t time.Time) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	bound := expiryPrefix(t)
	var ids []string
	err := b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketExpiry).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) <= expiryPrefixLen || k[expiryPrefixLen] != '/' {
				return fmt.Errorf("%w: malformed expiry key %x", ErrCorrupt, k)
			}
			if bytes.Compare(k[:expiryPrefixLen], bound[:]) >= 0 {
				break
			}
			ids = append(ids, string(k[expiryPrefixLen+1:]))
		}
		return nil
	})
	if err != nil {
		return nil, b.wrap(err, "expired", "")
	}
	return ids, nil
}

// wrap leaves the provisioner's sentinels and the errors this file made
// as they are and names the file in bbolt's own (I/O) errors.
func (b *Bolt) wrap(err error, op, id string) error {
	if err == nil || errors.Is(err, provisioner.ErrNotFound) || errors.Is(err, provisioner.ErrVersionConflict) ||
		errors.Is(err, ErrCorrupt) {
		return err
	}
	if id != "" {
		return fmt.Errorf("store: %s %q in %s: %w", op, id, b.path, err)
	}
	return fmt.Errorf("store: %s in %s: %w", op, b.path, err)
}

// decode reads a stored record. Numbers inside Parameters, Context and
// Change become json.Number, so 1209600 stays exactly 1209600 rather than
// a float64.
func decode(id string, v []byte) (*provisioner.Record, error) {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var rec provisioner.Record
	if err := dec.Decode(&rec); err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrCorrupt, id, err)
	}
	return &rec, nil
}

// indexed is the part of a stored record that Put and Delete need: the
// version to compare and the fields the indexes are keyed on. Decoding it
// allocates no maps.
type indexed struct {
	Deleted   bool      `json:"deleted"`
	ExpiresAt time.Time `json:"expires_at"`
	Version   uint64    `json:"version"`
}

func decodeIndexed(id string, v []byte) (*indexed, error) {
	var x indexed
	if err := json.Unmarshal(v, &x); err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrCorrupt, id, err)
	}
	return &x, nil
}

func setInFlight(tx *bolt.Tx, id []byte, inFlight bool) error {
	if inFlight {
		return tx.Bucket(bucketInFlight).Put(id, nil)
	}
	return tx.Bucket(bucketInFlight).Delete(id)
}

// expiryPrefixLen is the length of an encoded time in an expiry key.
const expiryPrefixLen = 12

// expiryPrefix encodes t as 12 bytes that sort as the times do, for every
// time including the zero time: Unix seconds as big-endian with the sign
// bit flipped, then nanoseconds within the second as big-endian. (Unix
// nanoseconds alone would not fit an int64 before 1678 or after 2262.)
func expiryPrefix(t time.Time) [expiryPrefixLen]byte {
	var p [expiryPrefixLen]byte
	binary.BigEndian.PutUint64(p[:8], uint64(t.Unix())^(1<<63))
	binary.BigEndian.PutUint32(p[8:], uint32(t.Nanosecond()))
	return p
}

func expiryKey(t time.Time, id []byte) []byte {
	p := expiryPrefix(t)
	k := make([]byte, 0, expiryPrefixLen+1+len(id))
	k = append(k, p[:]...)
	k = append(k, '/')
	return append(k, id...)
}
