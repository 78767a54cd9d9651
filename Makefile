# brokerkit: `make test` runs every check CI runs, in every module of the repo.
GO        ?= go
MODULES   := $(shell find . -name go.mod -not -path './.git/*' -exec dirname {} \; | sort)
FUZZTIME  ?= 10s
BENCHTIME ?= 1s

.PHONY: test vet race fmt bench bench-short microbench fuzz fuzz-ci proof demo canary kube-assets vulncheck

# kube-apiserver and etcd for the envtest tests of examples/controller: built
# from the Go module proxy on first use (about 6 minutes on 2 cores) into a
# cache directory keyed by version, which the script prints; later runs reuse
# it. A KUBEBUILDER_ASSETS already set in the environment is used as it is.
KUBE_ASSETS_SCRIPT := examples/controller/hack/kube-assets.sh
# WITH_KUBE_ASSETS starts a recipe line that needs them exported.
WITH_KUBE_ASSETS := if [ -z "$$KUBEBUILDER_ASSETS" ]; then KUBEBUILDER_ASSETS=$$(GO=$(GO) ./$(KUBE_ASSETS_SCRIPT)) || exit 1; export KUBEBUILDER_ASSETS; fi;

# The tests run once, in the canary run: with the race detector, every
# module, the proof suites included (see canary). race and proof run
# them on their own.
test: fmt vet canary fuzz-ci

fmt:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	@for m in $(MODULES); do echo "go vet $$m"; (cd $$m && $(GO) vet ./...) || exit 1; done

race:
	@$(WITH_KUBE_ASSETS) \
	for m in $(MODULES); do echo "go test -race $$m"; (cd $$m && $(GO) test -race -count=1 ./...) || exit 1; done

kube-assets:
	@GO=$(GO) ./$(KUBE_ASSETS_SCRIPT)

# Every package's tests of every module with -race and a known secret
# planted in parameters, outputs and credentials, every log record written
# to the test output, and the proof suites of examples/awsbroker/proof
# (short mode): fails if a test fails or the secret appears in any output
# line (see internal/canary). Prints each package's result line and the
# proof suites' counts.
canary:
	@$(WITH_KUBE_ASSETS) BROKERKIT_CANARY_RUN=1 $(GO) test -count=1 -v -timeout 40m -run '^TestNoCanaryLeaks$$' ./internal/canary/

# The load test (BENCHMARKS.md): the example broker against a bare
# net/http server writing the same bytes (catalog, provision,
# last_operation, many keep-alive connections, interleaved rounds), then
# 200 pollers for 2 minutes against 5,000 tracked instances with the
# broker's memory and goroutines sampled. Prints the tables; exits non-zero
# if a target is missed (measure on an otherwise idle machine). bench-short
# (CI) has 3s rounds and 20s of polling and reports the ratio targets
# without enforcing them; failed requests and memory or goroutine growth
# fail it too.
bench:
	$(GO) run ./examples/loadtest

bench-short:
	$(GO) run ./examples/loadtest -short

# govulncheck over every module, with the vulnerability database built
# offline from the golang.org/x/vulndb module (scripts/vulncheck.sh). The
# standard library of Go 1.26.8 has known vulnerabilities: run it with
# GOTOOLCHAIN=go1.27.3, as .ci/run does.
vulncheck:
	@GO=$(GO) ./scripts/vulncheck.sh

# Benchmarks of the HTTP paths, with allocations (compare runs with benchstat),
# then the Tracker with 1,000 and 10,000 operations in flight (one run each).
microbench:
	$(GO) test ./broker/ ./catalog/ ./provisioner/store/ -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count 6
	$(GO) test ./examples/integration/ -run '^$$' -bench InFlight -benchmem -benchtime 1x

# Each fuzz target for FUZZTIME.
fuzz:
	@for pkg in ./broker ./catalog; do \
		for f in $$($(GO) test $$pkg -list '^Fuzz' | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; $(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s || exit 1; \
		done; \
	done

# Each fuzz target of broker and catalog for FUZZTIME_CI (5s), on the
# committed corpora; prints the executions of each and the total (CI).
FUZZTIME_CI ?= 5s
fuzz-ci:
	@GO=$(GO) FUZZTIME=$(FUZZTIME_CI) ./scripts/fuzz.sh ./broker ./catalog

# The example broker proven as a process (examples/awsbroker/proof): SIGKILL
# at random moments on moto, AWS faults and an endpoint outage on the
# scripted fake, a request-level fuzzer, TLS, authentication and injection.
# Short numbers (a few minutes with -race); PROOF_FLAGS=-long runs the
# issue's (100 provisions and binds, 30s outage). Run in the package's
# directory so that go test shows the counts each suite prints.
proof:
	cd examples/awsbroker/proof && BROKERKIT_PROOF=1 $(GO) test -race -count=1 -timeout 20m $(PROOF_FLAGS)

# The walkthrough end to end: moto_server and the example broker on free
# loopback ports, then catalog, provision, bind, use the queue, unbind,
# deprovision, as a platform would.
demo:
	$(GO) run ./examples/demo
