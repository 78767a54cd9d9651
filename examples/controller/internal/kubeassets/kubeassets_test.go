package kubeassets_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/brokerkit/brokerkit/examples/controller/internal/kubeassets"
)

func TestDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(kubeassets.Env, dir)
	if got := kubeassets.Dir(); got != "" {
		t.Errorf("an empty KUBEBUILDER_ASSETS directory: %q, want \"\"", got)
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if err := os.WriteFile(filepath.Join(dir, b), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if got := kubeassets.Dir(); got != dir {
		t.Errorf("Dir() = %q, want %q", got, dir)
	}
	cache := t.TempDir()
	t.Setenv(kubeassets.Env, "")
	t.Setenv("XDG_CACHE_HOME", cache)
	if got := kubeassets.Dir(); got != "" {
		t.Errorf("an empty cache: %q", got)
	}
	built := filepath.Join(cache, "brokerkit", "kube-assets", kubeassets.Version)
	if err := os.MkdirAll(built, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if err := os.WriteFile(filepath.Join(built, b), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if got := kubeassets.Dir(); got != built {
		t.Errorf("Dir() = %q, want the cache %q", got, built)
	}
}
