#!/usr/bin/env bash
# Runs every fuzz target of the packages given (default: ./broker
# ./catalog) for FUZZTIME each (default 3s), on the committed corpora in
# testdata/fuzz plus the seeds, and prints the executions of each and the
# total. Exits non-zero at the first failure (the failing input is then
# written to testdata/fuzz by go test).
set -euo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-3s}
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./broker ./catalog)
total=0
targets=0
start=$(date +%s)
for pkg in "${pkgs[@]}"; do
	for f in $($GO test "$pkg" -list '^Fuzz' | grep '^Fuzz'); do
		out=$($GO test "$pkg" -run '^$' -fuzz "^$f\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 5s 2>&1) || {
			echo "$out"
			echo "fuzz: $pkg $f FAILED"
			exit 1
		}
		execs=$(echo "$out" | grep -o 'execs: [0-9]*' | tail -1 | grep -o '[0-9]*' || true)
		if [ -z "$execs" ]; then
			# Still running the corpus (the committed one, the seeds and
			# go's cache of earlier runs) for its baseline coverage.
			base=$(echo "$out" | grep -o 'baseline coverage: [0-9]*/[0-9]*' | tail -1 | grep -o '[0-9]*/[0-9]*' || true)
			echo "fuzz: $pkg $f: 0 new executions in $FUZZTIME (baseline: ${base:-?} corpus inputs run)"
			execs=0
		else
			echo "fuzz: $pkg $f: $execs executions in $FUZZTIME"
		fi
		total=$((total + execs))
		targets=$((targets + 1))
	done
done
echo "fuzz: $targets targets, $total executions, $(( $(date +%s) - start ))s"
