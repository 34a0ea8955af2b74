# Every target bootstraps .venv itself, so a fresh clone needs nothing but python3 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test soak serve bench lint clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m rivosim demo

test: $(STAMP)
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium unavailable; the browser tests will skip (they fail in CI)"
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The property tests' long hypothesis profile (1000 examples of 60 steps per state machine): no per-test
# timeout, so a failure is shrunk to its smallest case instead of being killed half-way. SOAK_ARGS adds
# pytest options, e.g. SOAK_ARGS=--hypothesis-seed=283724123688071908955403125219963230844.
soak: $(STAMP)
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest -q --timeout=0 tests/property $(SOAK_ARGS)

serve: $(STAMP)
	$(BIN)/python -m rivosim serve $(ARGS)

bench: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null) || echo "wrk unavailable; HTTP load figures will be skipped"
	$(BIN)/python -m benchmarks $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache
