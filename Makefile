# orch — build, test, run and measure.
#
#   make build   compile orchd, orchctl and orch-container-log (the containers' logger, found
#                beside orchd) into bin/, and the test kubectl (k8s.io/kubectl at go.mod's
#                version, test/tools/kubectl) into bin/kubectl
#   make test    the whole suite: vet, unit tests with -race, end-to-end tests, a short chaos run
#   make run     start a one-machine cluster (orchd dev) in .run/dev with the examples (Ctrl-C stops it)
#   make run-ha  start three masters on loopback in .run/ (no nodes)
#   make chaos   the chaos suite: every fault, three seeds, one results table (~15 min)
#   make bench   write throughput and failover figures beside etcd's, pod start latency,
#                exec and port-forward beside the same on the node (-only streaming), density on
#                hollow nodes, the service proxy in both modes; ends with a table of every figure
#                beside its goal (BENCHFLAGS passes flags, e.g. BENCHFLAGS='-only pod-starts -pod-start-orchd A,B')
#   make scale   the density benchmark at Kubernetes' envelope: 5,000 hollow nodes, 150,000 pods,
#                1,000 hollow nodes to a child process, without the hollow nodes' routes to each
#                other (as kubemark's); it refuses up front a size the machine's memory or open
#                file limit cannot hold, stops before the OOM killer would, and otherwise stops at
#                the first phase that fails and says where (SCALEFLAGS passes flags, e.g.
#                SCALEFLAGS='-density-nodes 1000')
#   make fuzz    run each fuzz target for FUZZTIME (default 10m); `make test` runs their seed corpus
#   make lint    gofmt and go vet

GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The commit's date (UTC), so a build of one commit is stamped the same every time.
BUILD_DATE ?= $(shell TZ=UTC git show -s --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ HEAD 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION) -X main.buildDate=$(BUILD_DATE)
# The test kubectl reports the Kubernetes release of the k8s.io/kubectl module
# go.mod pins (v0.X.Y is v1.X.Y), as test/harness.KubectlLDFlags stamps it.
KUBE_MINOR = $(shell $(GO) list -m -f '{{.Version}}' k8s.io/kubectl | cut -d. -f2)
KUBE_RELEASE = $(shell $(GO) list -m -f '{{.Version}}' k8s.io/kubectl | sed 's/^v0\./v1./')
KUBECTL_LDFLAGS = $(foreach p,k8s.io/client-go/pkg/version k8s.io/component-base/version,\
	-X $(p).gitVersion=$(KUBE_RELEASE) -X $(p).gitMajor=1 -X $(p).gitMinor=$(KUBE_MINOR) -X $(p).gitTreeState=clean)

.PHONY: all build test unit e2e chaos run run-ha bench scale fuzz lint deps clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/orchd ./cmd/orchd
	$(GO) build -ldflags "$(KUBECTL_LDFLAGS)" -o $(BIN)/orchctl ./cmd/orchctl
	$(GO) build -o $(BIN)/orch-container-log ./cmd/orch-container-log
	$(GO) build -ldflags "$(KUBECTL_LDFLAGS)" -o $(BIN)/kubectl ./test/tools/kubectl

deps:
	./scripts/ensure-packages.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# go test runs two packages at a time (-p, the cores) and starts them in the
# order given: the slowest first (seconds with -race: sched ~180, apiserver
# ~130, fsm ~125, cluster ~45, node/containerd ~45), so the last to start is
# a short one and both slots end together (alphabetically sched, the
# slowest, came last but one).
UNIT_FIRST := ./sched ./apiserver ./fsm ./cluster ./node/containerd ./api/openapi ./net/proxy ./api/v1 ./node/ociimage
unit:
	first=$$($(GO) list $(UNIT_FIRST)) || exit 1; \
	$(GO) test -race -count=1 $$(printf '%s\n' $$first $$($(GO) list ./... | grep -v /test/) | awk '!seen[$$0]++')

# One package at a time: the end-to-end and chaos suites each start whole
# clusters and would slow each other's timing on two cores. Inside the
# end-to-end package E2E_PARALLEL tests run at once (each has its own
# bridge, netns, ports, cgroup root and containerd; most of their time is
# waiting on timers); the few whose bounds need the machine to themselves
# do not call t.Parallel and run first, alone. Four at once: the suite
# used about half of two cores at three (user+sys 26.5 of 51 core-minutes
# of make test), and the package took 681 and 812 s at four (two runs)
# against 890 s at three on an idle machine. The suite hands its
# E2E_PARALLEL slots out itself (test/e2e/slots_test.go: the slowest tests
# first, so their long waits overlap the short tests rather than end the
# run alone), so go test's own -parallel is set past the number of tests.
E2E_PARALLEL ?= 4
e2e: build
	ORCH_E2E_SLOTS=$(E2E_PARALLEL) $(GO) test -count=1 -p 1 -parallel 1000 -timeout 25m ./test/...

chaos: deps build
	./scripts/chaos.sh

test: deps lint unit e2e

run: deps build
	./scripts/run-local.sh

run-ha: deps build
	./scripts/run-ha.sh

# The fuzz targets of the write path (API decode to FSM read-back) and of
# the FSM's apply of arbitrary committed entries; failures land in the
# package's testdata/fuzz and then run in every `make test`.
FUZZTIME ?= 10m
FUZZ_TARGETS := apiserver:FuzzCreate apiserver:FuzzUpdateStatus fsm:FuzzApplyEntry
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "== $$fn ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) ./$$pkg/; done

bench: deps build
	$(GO) run ./test/bench/cmd/orchbench $(BENCHFLAGS)

scale: deps build
	$(GO) run ./test/bench/cmd/orchbench -only density -density-nodes 5000 -density-pods-per-node 30 \
		-density-nodes-per-process 1000 -density-hollow-routes=false $(SCALEFLAGS)

clean:
	rm -rf $(BIN) .run
