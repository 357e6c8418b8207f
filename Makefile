# crmsync Makefile. `make help` lists the targets.

# Tools are pinned and installed into bin/ with `go install`.
CONTROLLER_GEN_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
K8S_VERSION ?= 1.37.2

LOCALBIN := $(CURDIR)/bin
CONTROLLER_GEN := $(LOCALBIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
GOLANGCI_LINT := $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
IMG ?= crmsync:latest
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/crmsync/crmsync/internal/version.Version=$(VERSION)
GO_TEST_FLAGS ?= -count=1 -timeout=30m
ARGS ?=

.DEFAULT_GOAL := help
SHELL := /usr/bin/env bash -o pipefail

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Regenerate CRDs and RBAC from the API types and markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/..." paths="./internal/controller/..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Regenerate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: verify-generated
verify-generated: manifests generate ## Fail when committed CRDs, RBAC or deepcopy code are stale.
	@git diff --exit-code -- config/crd config/rbac api || { echo "generated files are stale: run 'make manifests generate' and commit the result" >&2; exit 1; }

.PHONY: fmt
fmt: ## Run gofmt on the tree.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: vet $(GOLANGCI_LINT) ## Run go vet and golangci-lint.
	$(GOLANGCI_LINT) run ./...

.PHONY: envtest
envtest: ## Build (once) and print the envtest kube-apiserver and etcd, from Go modules only.
	@K8S_VERSION=$(K8S_VERSION) hack/envtest-assets.sh

.PHONY: test
test: manifests generate ## Run unit, conformance and envtest suites (builds envtest assets and checks for PostgreSQL first).
	@hack/ensure-postgres.sh
	KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(K8S_VERSION) hack/envtest-assets.sh)" go test $(GO_TEST_FLAGS) ./...

.PHONY: bench
bench: ## Run the benchmarks (slow; see docs/benchmarks.md).
	@hack/ensure-postgres.sh
	go test -run '^$$' -bench . -benchmem -timeout=60m ./...

##@ Build

.PHONY: build
build: ## Build bin/crmsync.
	go build -ldflags "$(LDFLAGS)" -o $(LOCALBIN)/crmsync ./cmd

.PHONY: run
run: manifests generate ## Run the manager against the cluster in the current kubeconfig.
	go run -ldflags "$(LDFLAGS)" ./cmd manager $(ARGS)

.PHONY: demo
demo: build ## Start a local control plane, the emulators and the manager, and sync sample data (ARGS=--once to exit after one sync).
	$(LOCALBIN)/crmsync demo $(ARGS)

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	docker build --build-arg VERSION=$(VERSION) -t $(IMG) .

##@ Tools

$(LOCALBIN):
	mkdir -p $(LOCALBIN)

$(CONTROLLER_GEN): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(LOCALBIN)/controller-gen $(CONTROLLER_GEN)

$(GOLANGCI_LINT): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(LOCALBIN)/golangci-lint $(GOLANGCI_LINT)
