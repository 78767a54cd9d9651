#!/usr/bin/env bash
# Builds kube-apiserver and etcd for controller-runtime's envtest from the Go
# module proxy (they cannot be downloaded as release binaries here) into a cache
# directory keyed by version, and prints that directory on stdout: use it as
# KUBEBUILDER_ASSETS. Skips the build when both binaries are already there.
# Progress goes to stderr; any failure exits non-zero.
#
#   KUBE_VERSION   k8s.io/kubernetes version (default v1.37.2); the staging
#                  modules are replaced by the matching v0.x.y
#   ETCD_VERSION   go.etcd.io/etcd/server/v3 version (default v3.7.3)
#   BROKERKIT_KUBE_ASSETS_CACHE  parent of the versioned directories
#                  (default ${XDG_CACHE_HOME:-$HOME/.cache}/brokerkit/kube-assets)
#
# The first kube-apiserver build takes about 6 minutes on 2 cores; the Go build
# cache makes a rebuild much faster.
set -euo pipefail

GO=${GO:-go}
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.7.3}
cache=${BROKERKIT_KUBE_ASSETS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/brokerkit/kube-assets}
dir=$cache/$KUBE_VERSION-etcd-$ETCD_VERSION

have() { [ -x "$dir/kube-apiserver" ] && [ -x "$dir/etcd" ]; }
if have; then echo "$dir"; exit 0; fi

mkdir -p "$dir"
# One build at a time per directory (two make runs at once wait for each other).
exec 9>"$dir/.lock"
flock 9
if have; then echo "$dir"; exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log() { echo "kube-assets: $*" >&2; }
# run runs a command with its output in a log, shown only when it fails.
run() {
	if ! "$@" >>"$work/build.log" 2>&1; then
		cat "$work/build.log" >&2
		log "failed: $*"
		exit 1
	fi
}

if [ ! -x "$dir/etcd" ]; then
	log "building etcd $ETCD_VERSION"
	start=$SECONDS
	mkdir "$work/etcd"
	(
		cd "$work/etcd"
		run $GO mod init brokerkit.local/etcd-build
		run $GO get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
		run $GO build -o "$dir/etcd.tmp" go.etcd.io/etcd/server/v3
	)
	mv "$dir/etcd.tmp" "$dir/etcd"
	log "etcd built in $((SECONDS - start))s"
fi

if [ ! -x "$dir/kube-apiserver" ]; then
	log "building kube-apiserver $KUBE_VERSION (several minutes the first time)"
	start=$SECONDS
	staging=v0.${KUBE_VERSION#v1.}
	mkdir "$work/kube"
	(
		cd "$work/kube"
		run $GO mod init brokerkit.local/kube-build
		# k8s.io/kubernetes's own go.mod replaces its staging modules with
		# local directories that are not in the module zip: map each one to
		# its published version instead.
		gomod=$($GO mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
		[ -f "$gomod" ] || { log "no go.mod for k8s.io/kubernetes@$KUBE_VERSION"; exit 1; }
		mods=$(sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/.*#\1#p' "$gomod")
		[ -n "$mods" ] || { log "no staging replacements found in $gomod"; exit 1; }
		n=0
		for m in $mods; do
			run $GO mod edit -replace "$m=$m@$staging"
			n=$((n + 1))
		done
		log "replaced $n staging modules with $staging"
		run $GO get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION"
		minor=${KUBE_VERSION#v1.}
		minor=${minor%%.*}
		run $GO build -o "$dir/kube-apiserver.tmp" \
			-ldflags "-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
			k8s.io/kubernetes/cmd/kube-apiserver
	)
	mv "$dir/kube-apiserver.tmp" "$dir/kube-apiserver"
	log "kube-apiserver built in $((SECONDS - start))s"
fi

have || { log "binaries missing in $dir after the build"; exit 1; }
echo "$dir"
