package dynamodb_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/store"
)

// BenchmarkStores measures Get and a compare-and-swap Put (one record,
// its version carried from the last write) on the DynamoDB store on moto
// and on the bbolt store (fsync on, as in production) in the same run.
// The figures are for comparison on one machine, not DynamoDB's own
// latency: moto is a Python process on loopback.
func BenchmarkStores(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) provisioner.Store
	}{
		{"bolt", func(b *testing.B) provisioner.Store {
			s, err := store.OpenBolt(filepath.Join(b.TempDir(), "s.db"), store.BoltOptions{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
		{"dynamodb-moto", func(b *testing.B) provisioner.Store { return newStore(b) }},
	}
	for _, st := range stores {
		s := st.open(b)
		rec := &provisioner.Record{InstanceID: "bench", ServiceID: "svc", PlanID: "plan",
			Parameters: map[string]any{"name": "orders", "size": 10},
			Operation:  &provisioner.Operation{ID: "op", Kind: provisioner.KindProvision, State: provisioner.Succeeded, CreatedAt: time.Now()}}
		if err := s.Put(b.Context(), rec); err != nil {
			b.Fatal(err)
		}
		b.Run(st.name+"/Get", func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Get(b.Context(), "bench"); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
		b.Run(st.name+"/PutCAS", func(b *testing.B) {
			for b.Loop() {
				rec.Operation.Attempts++
				if err := s.Put(b.Context(), rec); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}
