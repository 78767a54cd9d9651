#!/usr/bin/env bash
# govulncheck over every module of the repository, offline: vuln.go.dev is
# not reachable from these machines, so the vulnerability database is
# built from the golang.org/x/vulndb module (its data/osv reports, served
# by the Go module proxy) with vulndb's own indexdb, into a cache directory
# keyed by the vulndb version. Bump VULNDB_VERSION to get newer reports.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
VULN_VERSION=${VULN_VERSION:-v1.9.0}
VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
cache=${BROKERKIT_VULNDB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/brokerkit/vulndb}/$VULNDB_VERSION
if [ ! -f "$cache/index/db.json" ]; then
	src=$($GO mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -d "$src/data/osv" ] || { echo "vulncheck: no data/osv in golang.org/x/vulndb@$VULNDB_VERSION" >&2; exit 1; }
	mkdir -p "${cache%/*}"
	tmp=$(mktemp -d "${cache%/*}/tmp.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	$GO run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$tmp/db"
	rm -rf "$cache" && mv "$tmp/db" "$cache"
fi
echo "vulncheck: database golang.org/x/vulndb@$VULNDB_VERSION ($cache), $($GO version)"
status=0
for mod in $(find . -name go.mod -not -path './.git/*' -exec dirname {} \; | sort); do
	echo "govulncheck $mod"
	$GO run "golang.org/x/vuln/cmd/govulncheck@$VULN_VERSION" -db "file://$cache" -C "$mod" ./... || status=1
done
exit $status
