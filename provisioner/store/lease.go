package store

import (
	"context"
	"time"

	"github.com/brokerkit/brokerkit/provisioner"
)

var (
	_ provisioner.Store  = (*LeasedMemory)(nil)
	_ provisioner.Leaser = (*LeasedMemory)(nil)
)

// LeasedMemory is a [Memory] that is also a [provisioner.Leaser], so that
// several Trackers in one process (tests of replicas) share its records
// and divide its operations the way replicas share a DynamoDB table. Get
// one with [Memory.Leased].
//
// A plain Memory is not a Leaser, so that a Tracker on it behaves as one
// without leases: a Tracker started on it after another one stopped
// (a restart in a test) resumes every operation at once.
type LeasedMemory struct {
	*Memory
}

// Leased returns a view of m with leases; all views of m share its
// records and leases.
func (m *Memory) Leased() *LeasedMemory { return &LeasedMemory{m} }

// Claim takes or renews the lease l, as [provisioner.Leaser] says, under
// the store's mutex.
func (lm *LeasedMemory) Claim(ctx context.Context, l provisioner.Lease, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m := lm.Memory
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.leases[l.InstanceID]; ok && old.Owner != l.Owner && !old.Until.Before(now) && old.OperationID == l.OperationID {
		return &provisioner.LeaseHeldError{Owner: old.Owner, Until: old.Until}
	}
	if m.leases == nil {
		m.leases = make(map[string]provisioner.Lease)
	}
	m.leases[l.InstanceID] = l
	return nil
}

// Release ends owner's lease on instanceID, if it holds one.
func (lm *LeasedMemory) Release(ctx context.Context, instanceID, owner string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m := lm.Memory
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.leases[instanceID]; ok && old.Owner == owner {
		delete(m.leases, instanceID)
	}
	return nil
}
