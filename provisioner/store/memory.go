package store

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/brokerkit/brokerkit/provisioner"
)

var _ provisioner.Store = (*Memory)(nil)

// Memory is a [provisioner.Store] in a map, for tests and for a broker
// that may forget everything when it stops. It keeps deep copies
// ([provisioner.Record.Clone]) of what it is given and hands out deep
// copies, so no caller can alias stored state; values inside Parameters
// and Context are kept as they were given (a json.Number stays a
// json.Number, a float64 a float64).
//
// Its compare-and-swap holds across goroutines of one process, under one
// mutex; it does not model a second process or replica. The zero value is
// an empty store ready for use; a Memory must not be copied after first
// use.
type Memory struct {
	mu   sync.RWMutex
	recs map[string]*provisioner.Record
	// inflight and tombstones index recs, so that InFlight costs the
	// number of records in flight, not the number of records.
	inflight   map[string]struct{}
	tombstones map[string]struct{}
	// leases are the operations' leases (see Leased), by instance.
	leases map[string]provisioner.Lease
}

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{} }

// Get returns a copy of the record of instanceID, or
// [provisioner.ErrNotFound].
func (m *Memory) Get(ctx context.Context, instanceID string) (*provisioner.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	r, ok := m.recs[instanceID]
	if !ok {
		return nil, provisioner.ErrNotFound
	}
	return r.Clone(), nil
}

// Put stores a copy of rec if the stored version equals rec.Version (0:
// no record may exist) and sets rec.Version to the new version, one more
// than the old. Otherwise it returns [provisioner.ErrVersionConflict] and
// changes nothing. A record without an InstanceID or an Operation is
// refused with [ErrInvalidRecord].
func (m *Memory) Put(ctx context.Context, rec *provisioner.Record) error {
	if err := validate(rec); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var stored uint64
	if old, ok := m.recs[rec.InstanceID]; ok {
		stored = old.Version
	}
	if stored != rec.Version {
		return provisioner.ErrVersionConflict
	}
	c := rec.Clone()
	c.Version = stored + 1
	if m.recs == nil {
		m.recs = make(map[string]*provisioner.Record)
		m.inflight = make(map[string]struct{})
		m.tombstones = make(map[string]struct{})
	}
	m.recs[c.InstanceID] = c
	setMember(m.inflight, c.InstanceID, c.InFlight())
	setMember(m.tombstones, c.InstanceID, c.Deleted)
	rec.Version = c.Version
	return nil
}

// Delete removes the record of instanceID if its version equals version,
// else returns [provisioner.ErrVersionConflict]; [provisioner.ErrNotFound]
// if there is none.
func (m *Memory) Delete(ctx context.Context, instanceID string, version uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.recs[instanceID]
	if !ok {
		return provisioner.ErrNotFound
	}
	if old.Version != version {
		return provisioner.ErrVersionConflict
	}
	delete(m.recs, instanceID)
	delete(m.inflight, instanceID)
	delete(m.tombstones, instanceID)
	return nil
}

// InFlight returns copies of the records whose operation is in progress,
// sorted by instance ID. It costs the number of such records, not the
// number of records.
func (m *Memory) InFlight(ctx context.Context) ([]*provisioner.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	out := make([]*provisioner.Record, 0, len(m.inflight))
	for id := range m.inflight {
		out = append(out, m.recs[id].Clone())
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b *provisioner.Record) int { return cmp.Compare(a.InstanceID, b.InstanceID) })
	return out, nil
}

// Expired returns the IDs of tombstones whose ExpiresAt is before t,
// earliest first (ties by ID). A tombstone with a zero ExpiresAt is
// expired at any t after the zero time.
func (m *Memory) Expired(ctx context.Context, t time.Time) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type entry struct {
		id string
		at time.Time
	}
	var found []entry
	m.mu.RLock()
	for id := range m.tombstones {
		if at := m.recs[id].ExpiresAt; at.Before(t) {
			found = append(found, entry{id, at})
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(found, func(a, b entry) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	ids := make([]string, len(found))
	for i, e := range found {
		ids[i] = e.id
	}
	return ids, nil
}

func setMember(set map[string]struct{}, id string, member bool) {
	if member {
		set[id] = struct{}{}
	} else {
		delete(set, id)
	}
}
