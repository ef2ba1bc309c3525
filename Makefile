# gctdb build and test entry points. `make build` puts every binary in
# ./bin; `make test` is what CI runs.

GO      ?= go
BIN     := bin
# Binaries: name=package
CMDS    := ctdbd=./ctdbd ctdb=./ctdb onnode=./ctdb/onnode transportd=./transportd \
	ctdb_mutex_fcntl_helper=./ctdbd/mutexhelper \
	smbd=./smbd smbpasswd=./smbd/smbpasswd \
	fetch_ring=./tests/src/fetch_ring fetch_readonly=./tests/src/fetch_readonly \
	message_ring=./tests/src/message_ring tunnel_test=./tests/src/tunnel_test \
	transaction_loop=./tests/src/transaction_loop update_record=./tests/src/update_record \
	update_record_persistent=./tests/src/update_record_persistent \
	dummy_client=./tests/src/dummy_client ctdb-db-test=./tests/src/ctdb-db-test

.PHONY: build test unit integration cluster fuzz run stop clean

build:
	@mkdir -p $(BIN)
	@for c in $(CMDS); do \
		name=$${c%%=*}; pkg=$${c#*=}; \
		$(GO) build -o $(BIN)/$$name $$pkg || exit 1; \
	done

# The whole suite: unit tests (with every fuzz target's seed corpus),
# integration tests against real daemons — once with the transport
# embedded in ctdbd and once with a separate transportd per node — and a
# short fuzzing run of every fuzz target.
INTEGRATION = GCTDB_BINDIR=$(CURDIR)/$(BIN) $(GO) test -tags integration -count=1 -p 1 -timeout 30m ./tests/integration/...
test: build
	$(GO) vet ./...
	$(GO) vet -tags integration ./tests/...
	$(GO) test -race -count=1 -timeout 20m ./...
	$(INTEGRATION)
	GCTDB_TEST_TRANSPORT=transportd $(INTEGRATION)
	$(CLUSTER_TESTS)
	./tests/fuzz.sh 2s

# Clusters in network namespaces with real public addresses (root only;
# the tests skip otherwise): make cluster
CLUSTER_TESTS = GCTDB_BINDIR=$(CURDIR)/$(BIN) $(GO) test -tags integration -count=1 -timeout 20m ./tests/cluster/...
cluster: build
	$(CLUSTER_TESTS)

# Integration tests only: make integration [TRANSPORT=transportd]
integration: build
	GCTDB_TEST_TRANSPORT=$(TRANSPORT) $(INTEGRATION)

unit:
	$(GO) test -count=1 -short ./...

# Fuzz every target for a while: make fuzz FUZZTIME=5m
FUZZTIME ?= 30s
fuzz:
	./tests/fuzz.sh $(FUZZTIME)

# A local 3-node cluster in /tmp/gctdb (see README.md).
CLUSTER ?= /tmp/gctdb
run: build
	./tests/local_daemons.sh $(CLUSTER) setup -n 3
	./tests/local_daemons.sh $(CLUSTER) start all
	./tests/local_daemons.sh $(CLUSTER) onnode 0 ctdb status

stop:
	./tests/local_daemons.sh $(CLUSTER) stop all

clean:
	rm -rf $(BIN)
