# tuskq build, test and demo targets. Run 'make' or 'make help' for the list.

GO            ?= go
BIN           := bin
BINARIES      := worker enqueue monitor demo
GOLANGCI_VERSION := 2.15.0
GOLANGCI      := $(BIN)/golangci-lint
# make demo DURATION=20s runs unattended and prints a summary; empty runs until Ctrl-C.
DURATION      ?=
# make fuzz FUZZTIME=30s runs each fuzz target that long.
FUZZTIME      ?= 10s
# make bench BENCHTIME=2s
BENCHTIME     ?= 1s
TEST_TIMEOUT  ?= 15m

REDIS_HINT := redis-server not found on PATH: the tests start their own throwaway servers. Install it with 'sudo apt-get install redis-server' (Debian/Ubuntu) or 'brew install redis' (macOS).

.DEFAULT_GOAL := help
.PHONY: help build test test-short test-faults bench mutate lint fmt vet demo fuzz clean tidy-check check-go check-redis

help: ## list the targets
	@echo "Usage: make TARGET [VAR=value]"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "Variables: DURATION (demo, e.g. 20s), FUZZTIME (fuzz, $(FUZZTIME)), BENCHTIME (bench, $(BENCHTIME))"

check-go:
	@command -v $(GO) >/dev/null 2>&1 || { echo "go not found on PATH: install Go 1.26 or later from https://go.dev/dl/"; exit 1; }

check-redis:
	@command -v redis-server >/dev/null 2>&1 || { echo "$(REDIS_HINT)"; exit 1; }

build: check-go ## compile every package and put worker, enqueue, monitor and demo into ./bin
	$(GO) build ./...
	$(GO) build -o $(BIN)/ $(addprefix ./cmd/,$(BINARIES))

# make plugins builds every example in examples/plugins that needs building:
# the native Go plugins (.so), the Go programs of process and exec plugins
# (a directory with .go files; scripts need nothing), and wasm plugins (Go
# built for wasip1 as a reactor, or WebAssembly text assembled by wabt's
# wat2wasm). Each output is the
# manifest's entry, covered by .gitignore.
#
# Native plugins must be built with the worker's go, go.mod and code-changing flags (make build
# uses none: no -trimpath, no -race; pass the worker's extra flags in PLUGIN_FLAGS, e.g. -race).
# Each build gets a unique plugin path (name, manifest version, hash of its Go files) set both
# with -ldflags=-pluginpath and -gcflags=PKG=-p, so a worker can load a new build beside the old.
PLUGIN_FLAGS  ?=
SHA256        := $(shell command -v sha256sum >/dev/null 2>&1 && echo sha256sum || echo 'shasum -a 256')
.PHONY: plugins
plugins: check-go ## build the example plugins that need building: native .so, Go programs and wasm modules (PLUGIN_FLAGS=-race for a race worker)
	@set -e; for m in examples/plugins/*/plugin.yaml; do \
		d=$$(dirname $$m); \
		entry=$$(sed -n 's/^entry:[[:space:]]*//p' $$m | tr -d "\"' "); \
		if grep -q '^runtime:[[:space:]]*native' $$m; then \
			ver=$$(sed -n 's/^version:[[:space:]]*//p' $$m | tr -d "\"' " | tr -c 'A-Za-z0-9._\n-' _); \
			hash=$$(cat $$d/*.go | $(SHA256) | cut -c1-12); \
			pp=tuskq-plugin/$$(basename $$d)/$$ver-$$hash; \
			pkg=$$($(GO) list ./$$d); \
			echo "$(GO) build -buildmode=plugin $(PLUGIN_FLAGS) -ldflags=-pluginpath=$$pp -gcflags=$$pkg=-p=$$pp -o $$d/$$entry ./$$d"; \
			$(GO) build -buildmode=plugin $(PLUGIN_FLAGS) -ldflags=-pluginpath=$$pp -gcflags=$$pkg=-p=$$pp -o $$d/$$entry ./$$d; \
		elif grep -q '^runtime:[[:space:]]*wasm' $$m && ls $$d/*.go >/dev/null 2>&1; then \
			echo "GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o $$d/$$entry ./$$d"; \
			GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o $$d/$$entry ./$$d; \
		elif grep -q '^runtime:[[:space:]]*wasm' $$m && ls $$d/*.wat >/dev/null 2>&1; then \
			if command -v wat2wasm >/dev/null 2>&1; then \
				echo "wat2wasm -o $$d/$$entry $$d/*.wat"; wat2wasm -o $$d/$$entry $$d/*.wat; \
			else echo "skipping $$d: wat2wasm not installed (apt-get install wabt)"; fi; \
		elif ls $$d/*.go >/dev/null 2>&1; then \
			echo "$(GO) build -o $$d/$$entry ./$$d"; \
			$(GO) build -o $$d/$$entry ./$$d; \
		fi; \
	done

# plugins/native runs without -race: its tests build Go plugins, which must
# match the test binary's flags, and a cold -race plugin build takes minutes.
RACE_PKGS = $$($(GO) list ./... | grep -v '/plugins/native$$')

test: check-go check-redis helm-tools ## run all tests with the race detector (needs redis-server; installs helm and kubeconform into ./bin)
	TUSKQTEST_REQUIRE_HELM=1 $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(RACE_PKGS)
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./plugins/native/

test-short: check-go check-redis ## run the quick tests only (-short, no race detector)
	$(GO) test -short -count=1 -timeout $(TEST_TIMEOUT) ./...

# The fault tests run every scenario against tuskq and bare asynq at once
# (-parallel), each with its own Redis, ledger and worker processes; bare
# asynq needs minutes to recover, so they take about 3 minutes whatever the
# machine. No -race: the scenarios are long; their support code is race
# tested by make test.
FAULTS_REPORT ?= $(BIN)/faults-report.md

test-faults: check-go check-redis ## run the fault tests against tuskq and bare asynq (about 3 min; table in bin/faults-report.md)
	FAULTS_REPORT=$(abspath $(FAULTS_REPORT)) $(GO) test -tags faults -count=1 -parallel 16 -timeout $(TEST_TIMEOUT) -run '^TestFaults$$' ./internal/faults/
	@cat $(FAULTS_REPORT)

bench: check-go check-redis ## run the Go benchmarks, then the load driver ./cmd/bench when present
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./...
	@if [ -d cmd/bench ]; then echo "$(GO) run ./cmd/bench"; $(GO) run ./cmd/bench; \
	else echo "cmd/bench does not exist yet: only the Go benchmarks ran"; fi

# Mutation testing (not in CI: hours on a small machine). gremlins mutates
# the code of a package and runs that package's tests against each mutant,
# one at a time (--workers 1: the tests start Redis servers and worker
# processes; their timeout is the clean run's times --timeout-coefficient).
# The scores and the equivalent mutants are in docs/testing.md.
# MUTATE=asynqrdb (a space-separated subset of the names below) runs only those.
GREMLINS_VERSION := 0.6.0
GREMLINS      := $(BIN)/gremlins
MUTATE_FLAGS  ?= --workers 1 --timeout-coefficient 10
MUTATE        ?= schedule limits taskcancel scheduler fleetstate telemetry security httpapi wasm tasks worker asynqrdb
# name = package, then gremlins flags (-E excludes files by a regexp on
# their path relative to the package: plugins/ is mutated in security.go
# only, internal/httpapi in auth.go and idempotency.go). Smallest first.
MUTATE_worker     := ./worker
MUTATE_asynqrdb   := ./internal/asynqrdb
MUTATE_tasks      := ./tasks
MUTATE_security   := ./plugins -E '^[^s][^/]*\.go$$' -E '^schema\.go$$' -E '/'
MUTATE_fleetstate := ./plugins/fleetstate
MUTATE_httpapi    := ./internal/httpapi -E '^(accesslog|batch|decode|doc|enqueue|options|problem|queues|schedules|server|syntax|task|views)\.go$$'
MUTATE_schedule   := ./internal/schedule
MUTATE_scheduler  := ./internal/scheduler
MUTATE_limits     := ./internal/limits
MUTATE_taskcancel := ./internal/taskcancel
MUTATE_telemetry  := ./internal/telemetry
MUTATE_wasm       := ./plugins/wasm -E '/'

$(GREMLINS):
	@echo "installing gremlins v$(GREMLINS_VERSION) into $(BIN)"
	GOBIN=$(CURDIR)/$(BIN) $(GO) install github.com/go-gremlins/gremlins/cmd/gremlins@v$(GREMLINS_VERSION)

mutate: check-go check-redis $(GREMLINS) ## mutation testing of the guarantee-carrying packages (slow, not in CI; MUTATE=asynqrdb for one)
	@v=$$($(GO) version -m $(GREMLINS) | awk '$$1 == "mod" {print $$3}'); if [ "$$v" != "v$(GREMLINS_VERSION)" ]; then \
		echo "$(GREMLINS) is version '$$v', want v$(GREMLINS_VERSION): reinstalling"; rm -f $(GREMLINS); \
		GOBIN=$(CURDIR)/$(BIN) $(GO) install github.com/go-gremlins/gremlins/cmd/gremlins@v$(GREMLINS_VERSION); fi
	@set -e; $(foreach m,$(MUTATE),echo "== $(m): $(GREMLINS) unleash $(MUTATE_FLAGS) $(MUTATE_$(m))"; $(GREMLINS) unleash $(MUTATE_FLAGS) $(MUTATE_$(m));)

# The Helm chart (deploy/helm/tuskq) is checked without a cluster by
# internal/deploycheck: helm lint, then helm template piped into kubeconform
# (strict) with the JSON schemas committed in deploy/helm/schemas, so no
# schema is downloaded. Both tools are built from their Go modules into
# ./bin once (helm takes several minutes on a small machine).
HELM_VERSION       := 4.3.2
KUBECONFORM_VERSION := 0.8.0
HELM               := $(BIN)/helm
KUBECONFORM        := $(BIN)/kubeconform
# The sources of deploy/helm/schemas (make helm-schemas), all from the Go module proxy.
K8S_MODULE         := k8s.io/kubernetes@v1.37.2
KEDA_MODULE        := github.com/kedacore/keda/v2@v2.20.2
PROMOP_MODULE      := github.com/prometheus-operator/prometheus-operator@v0.93.0
HELM_KINDS         := v1/ConfigMap v1/Service v1/ServiceAccount apps/v1/Deployment policy/v1/PodDisruptionBudget networking.k8s.io/v1/Ingress autoscaling/v2/HorizontalPodAutoscaler
.PHONY: helm-tools helm-check helm-docs helm-schemas

$(HELM):
	@echo "installing helm v$(HELM_VERSION) into $(BIN) (several minutes, once)"
	GOBIN=$(CURDIR)/$(BIN) $(GO) install helm.sh/helm/v4/cmd/helm@v$(HELM_VERSION)

$(KUBECONFORM):
	@echo "installing kubeconform v$(KUBECONFORM_VERSION) into $(BIN)"
	GOBIN=$(CURDIR)/$(BIN) $(GO) install github.com/yannh/kubeconform/cmd/kubeconform@v$(KUBECONFORM_VERSION)

helm-tools: check-go $(HELM) $(KUBECONFORM) ## install helm and kubeconform into ./bin (pinned; reinstalled when another version is there)
	@set -e; for t in "$(HELM) helm.sh/helm/v4/cmd/helm v$(HELM_VERSION)" "$(KUBECONFORM) github.com/yannh/kubeconform/cmd/kubeconform v$(KUBECONFORM_VERSION)"; do \
		set -- $$t; v=$$($(GO) version -m $$1 | awk '$$1 == "mod" {print $$3}'); \
		if [ "$$v" != "$$3" ]; then echo "$$1 is version '$$v', want $$3: reinstalling"; rm -f $$1; \
			GOBIN=$(CURDIR)/$(BIN) $(GO) install $$2@$$3; fi; \
	done

helm-check: helm-tools ## check the Helm chart: helm lint, helm template | kubeconform -strict (offline), failing values, docs current
	TUSKQTEST_REQUIRE_HELM=1 $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -run 'Helm' ./internal/deploycheck/

helm-docs: check-go ## regenerate docs/helm-values.md from deploy/helm/tuskq/values.yaml
	$(GO) test -count=1 -run '^TestHelmValuesDoc$$' ./internal/deploycheck/ -args -update

helm-schemas: check-go ## regenerate deploy/helm/schemas from Kubernetes' OpenAPI and the KEDA and Prometheus Operator CRDs (Go module proxy)
	@set -e; dir() { $(GO) mod download -json $$1 | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'; }; \
	k8s=$$(dir $(K8S_MODULE)); keda=$$(dir $(KEDA_MODULE)); promop=$$(dir $(PROMOP_MODULE)); \
	$(GO) run ./internal/deploycheck/schemagen -swagger $$k8s/api/openapi-spec/swagger.json \
		-crd $$keda/config/crd/bases/keda.sh_scaledobjects.yaml:v1alpha1 \
		-crd $$promop/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml:v1 \
		-out deploy/helm/schemas $(HELM_KINDS)

$(GOLANGCI):
	@echo "installing golangci-lint v$(GOLANGCI_VERSION) into $(BIN) (a few minutes, once)"
	GOBIN=$(CURDIR)/$(BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v$(GOLANGCI_VERSION)

lint: check-go $(GOLANGCI) ## run golangci-lint v2.15.0 (installed into ./bin when missing) with .golangci.yml
	@v=$$($(GOLANGCI) version --short 2>/dev/null); if [ "$$v" != "$(GOLANGCI_VERSION)" ]; then \
		echo "$(GOLANGCI) is version '$$v', want $(GOLANGCI_VERSION): reinstalling"; rm -f $(GOLANGCI); \
		GOBIN=$(CURDIR)/$(BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v$(GOLANGCI_VERSION); fi
	$(GOLANGCI) run ./...

fmt: check-go ## format the code (gofmt -s; goimports grouping too when golangci-lint is installed)
	gofmt -s -w $$(find . -name '*.go' -not -path './.demo/*' -not -path './bin/*')
	@if [ -x $(GOLANGCI) ]; then $(GOLANGCI) fmt; fi

vet: check-go ## run go vet
	$(GO) vet ./...

demo: check-go ## run the demo: Redis, two workers, monitor, webhook, producer (DURATION=20s to stop by itself)
	$(GO) build -o $(BIN)/ $(addprefix ./cmd/,$(BINARIES))
	./$(BIN)/demo --bin-dir $(BIN) $(if $(DURATION),--duration $(DURATION))

fuzz: check-go ## run each fuzz target for FUZZTIME (default 10s)
	@FUZZTIME=$(FUZZTIME) GO=$(GO) ./scripts/fuzz.sh

clean: ## remove the built binaries and the demo's logs (keeps bin/golangci-lint)
	rm -f $(addprefix $(BIN)/,$(BINARIES))
	rm -rf .demo

tidy-check: check-go ## fail when go.mod or go.sum are not tidy (go mod tidy -diff)
	$(GO) mod tidy -diff
