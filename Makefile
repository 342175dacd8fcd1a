# Skein build, run and test entry points. Everything a target needs is
# installed by the targets themselves (see compat-deps).

GO        ?= go
BIN       := bin/skein
FUZZTIME  ?= 60s
BENCHTIME ?= 2s
# Packages with fuzz targets, as package:FuzzName pairs.
FUZZ_TARGETS := \
	./protocol:FuzzFrame \
	./protocol:FuzzDecodeRequest \
	./protocol/records:FuzzValidate \
	./protocol/records:FuzzDecompress \
	./storage:FuzzRecovery \
	./storage:FuzzEncryptedRecovery \
	./storage:FuzzCompact \
	./storage/keys:FuzzParseKeyFile \
	./broker:FuzzBrokerRequest \
	./broker:FuzzMetadataLog \
	./broker:FuzzAuditStrings \
	./broker/sasl:FuzzOAuthBearerClientFirstMessage \
	./broker/sasl:FuzzOAuthBearerJWT \
	./raft:FuzzFrameReader \
	./raft:FuzzEnvelopes \
	./schemaregistry:FuzzParseSchema \
	./schemaregistry:FuzzUsersFile \
	./internal/config:FuzzReadProperties \
	./broker:FuzzParseAddScram

.PHONY: all build run test test-go compat compat-deps bench bench-compare fuzz fuzz-seeds kill-test cluster-test cluster-soak vet clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/skein

# Single-node Skein with everything embedded, on defaults
# (PLAINTEXT://127.0.0.1:9092, data in ./skein-data).
run: build
	./$(BIN) serve

# The whole suite: static checks, unit and in-process tests, the kill test,
# and the real-client compatibility tests (installing their clients first).
test: compat-deps vet build
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -tags compat -count=1 -timeout 15m ./test/compat/

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

# Go tests only, without installing the real clients.
test-go:
	$(GO) test -count=1 -timeout 20m ./...

compat-deps:
	bash test/compat/install.sh

compat: compat-deps build
	$(GO) test -tags compat -count=1 -v -timeout 15m ./test/compat/

kill-test: build
	$(GO) test -count=1 -v -timeout 20m -run TestKill ./test/e2e/...

# The process-level cluster tests (test/cluster) on their own, verbose:
# failover times and per-fault details are in the log. `make test` runs
# them too (about 6 minutes on 2 cores).
cluster-test: build
	SKEIN_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -v -timeout 20m ./test/cluster/...

# TestLeaderFailover with SOAK_FAULTS kill-and-restart faults (default
# 50) instead of 20; SKEIN_CLUSTER_SEED replays a run.
SOAK_FAULTS ?= 50
cluster-soak: build
	SKEIN_BIN=$(CURDIR)/$(BIN) SKEIN_CLUSTER_FAULTS=$(SOAK_FAULTS) $(GO) test -count=1 -v -timeout 90m -run 'TestLeaderFailover' ./test/cluster/

bench: build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./storage/ ./protocol/records/
	bash scripts/bench.sh

# Each fuzz target for FUZZTIME (default 60s).
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 0 $$pkg; \
	done

clean:
	rm -rf bin

# Skein beside Apache Kafka $(KAFKA_VERSION) (jars from Maven Central) on
# this machine, fsync-per-batch and OS-buffered; rewrites
# docs/benchmarks.md and docs/bench-*.png (about 15 minutes; the BENCH_*
# variables in docs/benchmarks.md lengthen it).
KAFKA_VERSION ?= 4.4.0
bench-compare: build
	rm -rf bench/compare/kafka/lib
	cd bench/compare/kafka && mvn -q -B dependency:copy-dependencies -Dkafka.version=$(KAFKA_VERSION) -DincludeScope=runtime -DoutputDirectory=lib
	cd bench/compare && KAFKA_VERSION=$(KAFKA_VERSION) SKEIN_REVISION=$$(git rev-parse --short HEAD) \
		$(GO) run . -skein ../../bin/skein -kafka-lib kafka/lib -out out -docs ../../docs
