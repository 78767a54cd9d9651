package store

import (
	"fmt"
	"testing"

	"github.com/brokerkit/brokerkit/provisioner"
)

func TestRecordCache(t *testing.T) {
	t.Parallel()
	c := newRecordCache(3)
	rec := func(id string) *provisioner.Record {
		return &provisioner.Record{InstanceID: id, Operation: &provisioner.Operation{ID: "op-" + id}}
	}
	for i := range 10 {
		id := fmt.Sprint("i-", i)
		c.put(id, []byte(id), rec(id))
		if n := c.len(); n > 3 {
			t.Fatalf("%d entries after %d puts, want at most 3", n, i+1)
		}
		if got := c.get(id, []byte(id)); got == nil || got.InstanceID != id {
			t.Fatalf("get(%q) right after put = %v, want its record", id, got)
		}
	}
	c.put("x", []byte("v1"), rec("x"))
	if got := c.get("x", []byte("v2")); got != nil {
		t.Errorf("get with other stored bytes = %v, want nil (a miss)", got)
	}
	c.forget("x")
	if got := c.get("x", []byte("v1")); got != nil {
		t.Errorf("get after forget = %v, want nil", got)
	}
	var none *recordCache // no cache: every call is a no-op
	none.put("x", []byte("v1"), rec("x"))
	none.forget("x")
	if none.get("x", []byte("v1")) != nil {
		t.Error("a nil cache returned a record")
	}
}
