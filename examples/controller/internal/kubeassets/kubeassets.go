// Package kubeassets finds the kube-apiserver and etcd binaries that the
// controller's envtest tests run: the directory KUBEBUILDER_ASSETS names,
// else the cache directory hack/kube-assets.sh builds them into.
package kubeassets

import (
	"os"
	"path/filepath"
)

// Env is envtest's own variable: the directory holding kube-apiserver
// and etcd.
const Env = "KUBEBUILDER_ASSETS"

// Version names the cache directory of the versions hack/kube-assets.sh
// builds by default.
const Version = "v1.37.2-etcd-v3.7.3"

// Dir returns the directory with kube-apiserver and etcd: $KUBEBUILDER_ASSETS
// if it holds both, else the script's cache directory
// ($XDG_CACHE_HOME or ~/.cache, then brokerkit/kube-assets/Version) if it
// does, else "". A KUBEBUILDER_ASSETS that lacks them gives "", not the
// cache: the caller asked for that directory.
func Dir() string {
	if d := os.Getenv(Env); d != "" {
		if has(d) {
			return d
		}
		return ""
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		cache = filepath.Join(home, ".cache")
	}
	if d := filepath.Join(cache, "brokerkit", "kube-assets", Version); has(d) {
		return d
	}
	return ""
}

// has reports whether d holds both binaries.
func has(d string) bool {
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if st, err := os.Stat(filepath.Join(d, b)); err != nil || st.IsDir() {
			return false
		}
	}
	return true
}
