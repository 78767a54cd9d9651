package provisionertest_test

import (
	"testing"

	"github.com/brokerkit/brokerkit/internal/mototest"
)

// TestMain fails the package's tests if they leave goroutines running.
func TestMain(m *testing.M) { mototest.Main(m) }
