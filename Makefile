# lab: the two commands README.md promises, and their parts.
GO ?= go
TEST_TIMEOUT ?= 80m

.PHONY: setup lab run test check unit catalogue mutate clean

# Install host packages (apt) and Go modules that lab needs.
setup:
	./scripts/setup.sh

bin/lab: $(shell find cmd internal -name '*.go') go.mod go.sum
	$(GO) build -o bin/lab ./cmd/lab

lab: setup bin/lab

# Set up everything and run the first experiment on the default kernel.
run: lab
	./bin/lab run chardev-unsafe

# Static checks: formatting, vet, and the CI workflow (actionlint, pinned in
# go.mod through tools.go; it runs shellcheck on the workflow's scripts when
# shellcheck is on PATH).
check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) run github.com/rhysd/actionlint/cmd/actionlint .github/workflows/lab.yml

# Set up everything and run every test, including the ones that boot real
# kernels in QEMU (TCG when there is no KVM).
test: setup check
	$(GO) test -timeout $(TEST_TIMEOUT) ./...

# Tests that need no network and no VM.
unit:
	$(GO) test -short ./...

# The module-lifetime catalogue (README, "The catalogue") on every image
# (amd64 and arm64), three repeats a cell: minutes, not part of make test.
CATALOGUE = chardev-safe chardev-unsafe proc-safe proc-leak debugfs-safe debugfs-unsafe \
	sysfs-safe sysfs-unsafe timer-safe timer-unsafe workqueue-safe workqueue-unsafe \
	kthread-safe kthread-unsafe notifier-safe notifier-unsafe
catalogue: lab
	./bin/lab matrix --repeat 3 $(CATALOGUE)

# Mutation testing (gremlins, pinned) over the packages that need no VM:
# those whose job is computing on data (parsers, judges, records, the
# runner through its fake machine), not driving QEMU, apt, make, go build
# or a guest (docs/testing.md lists which are left out and why). Each
# package's score is killed ÷ (killed + lived + not covered), mutants
# judged equivalent (.gremlins-equivalent) left out; mutscore itself runs
# the mutants gremlins cannot (case clauses); exit 1 under 85%. The tests
# run with -short (no Chromium per mutant), with a generous timeout so that
# a busy machine's slow test is not taken for a killed mutant. Minutes per
# package, about an hour for all on 2 cores; not part of make test.
GREMLINS ?= github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0
MUTATE ?= arch attribute bisect compare evidence experiment kallsyms logx protocol pvh results runner safefile shard symbolize textutil yamlx
mutate:
	@mkdir -p .mutate
	@for p in $(MUTATE); do \
		echo "gremlins: internal/$$p"; \
		GOFLAGS=-short $(GO) run $(GREMLINS) unleash --workers 1 --timeout-coefficient 10 -o .mutate/$$p.json ./internal/$$p >/dev/null || exit 2; \
	done
	$(GO) run ./scripts/mutscore $(foreach p,$(MUTATE),.mutate/$(p).json)

clean:
	rm -rf bin .mutate
