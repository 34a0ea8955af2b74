# Every target bootstraps .venv itself, so a fresh clone needs nothing but python3 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test soak serve bench lint clean openapi openapi-shapes fuzz

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench,httpx,aiohttp]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m rivosim demo

test: $(STAMP)
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium unavailable; the browser tests will skip (they fail in CI)"
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The property tests' long hypothesis profile: SOAK_EXAMPLES examples of 60 steps per test (default 300), on
# two workers, with no per-test timeout, so a failure is shrunk to its smallest case instead of being killed
# half-way. The default costs about 8 CPU-minutes (measured: 478 s, 25 tests; 2 x 300 state-machine runs are
# nearly all of it), so about 5 minutes on an idle 2-core machine and 48 minutes on one shared by 8 busy users.
# SOAK_EXAMPLES=1000 (the profile's old length) costs about 27 CPU-minutes.
# SOAK_ARGS adds pytest options, e.g. SOAK_ARGS=--hypothesis-seed=283724123688071908955403125219963230844.
SOAK_EXAMPLES ?= 300
soak: $(STAMP)
	HYPOTHESIS_PROFILE=long RIVOSIM_SOAK_EXAMPLES=$(SOAK_EXAMPLES) $(BIN)/python -m pytest -q --timeout=0 -n 2 \
		--durations=10 tests/property $(SOAK_ARGS)

serve: $(STAMP)
	$(BIN)/python -m rivosim serve $(ARGS)

bench: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null) || echo "wrk unavailable; HTTP load figures will be skipped"
	$(BIN)/python -m benchmarks $(ARGS)

# The OpenAPI documents under docs/openapi/, generated from the code (a test fails when they are stale).
openapi: $(STAMP)
	mkdir -p docs/openapi
	for api in rivo shopify control; do $(BIN)/python -m rivosim openapi $$api -o docs/openapi/$$api.json; done
	$(BIN)/python -m rivosim openapi graphql -o docs/openapi/shopify.graphql
	$(BIN)/python -m rivosim.http.openapi.readme

# Re-derive the response shape tables from the contract suite's own responses (after a wire shape changed on
# purpose), then regenerate the documents. Review the diff of src/rivosim/http/openapi/shapes/. (The stale-document
# tests fail while recording; that is expected.)
openapi-shapes: $(STAMP)
	rm -f .openapi-recording.jsonl
	-RIVOSIM_OPENAPI_RECORD=$(CURDIR)/.openapi-recording.jsonl $(BIN)/python -m pytest -q -p no:randomly -n 2 tests/contract
	$(BIN)/python -m rivosim.http.openapi.derive .openapi-recording.jsonl
	rm -f .openapi-recording.jsonl
	$(MAKE) openapi

# schemathesis against a live `rivosim serve`, longer than the bounded run in `make test`.
fuzz: $(STAMP)
	RIVOSIM_FUZZ_EXAMPLES=$${RIVOSIM_FUZZ_EXAMPLES:-25} RIVOSIM_FUZZ_PHASES=coverage,fuzzing,stateful $(BIN)/python -m pytest -q -p no:randomly tests/fuzz

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache
