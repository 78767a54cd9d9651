package procgroup_test

import (
	"testing"

	"github.com/brokerkit/brokerkit/internal/procgroup"
)

func TestTail(t *testing.T) {
	t.Parallel()
	b := &procgroup.Tail{Max: 8}
	for _, s := range []string{"abc", "defgh", "ijk"} {
		_, _ = b.Write([]byte(s))
	}
	if got := b.String(); got != "defghijk" {
		t.Errorf("tail = %q, want %q", got, "defghijk")
	}
	var zero procgroup.Tail
	_, _ = zero.Write([]byte("x"))
	if zero.String() != "" {
		t.Errorf("the zero Tail kept %q", zero.String())
	}
}
