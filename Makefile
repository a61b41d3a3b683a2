# Two commands do all the set-up: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/python:
	$(PY) -m venv $(VENV)

# A prebuilt QuickFIX wheel (a test dependency) is used when ../shared/wheels has one; else pip builds
# it from source (~4 minutes, needs g++).
WHEELS := $(wildcard ../shared/wheels)

# clients/python is the `execx-client` distribution (generated execx.v1 stubs) the service imports.
$(VENV)/.installed: pyproject.toml clients/python/pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(if $(WHEELS),--find-links $(WHEELS)) -e '.[dev]' -e ./clients/python
	touch $@ $(VENV)/.installed-runtime

install: $(VENV)/.installed

# The demos need the service's runtime dependencies only (no test tools, no QuickFIX build, the venv's own
# pip): a fresh clone runs `make demo` in under 90 s.
$(VENV)/.installed-runtime: pyproject.toml clients/python/pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --no-compile -e . -e ./clients/python
	touch $@

demo: $(VENV)/.installed-runtime
	$(BIN)/python examples/demo.py

sim-demo: $(VENV)/.installed-runtime
	$(BIN)/python examples/sim_demo.py

test: install
	$(BIN)/python -m pytest -q

# The full fault matrix (tests/faults): >= 20 kill -9 points per venue family (5 bursts of 200 orders, 4 kills
# each) plus every venue fault once per family; one summary JSON line per family (also appended to
# faults-summary.jsonl). `make test` runs the small default (one kill per family).
faults: install
	EXECX_FAULT_FULL=1 EXECX_FAULT_KILLS=$${EXECX_FAULT_KILLS:-20} EXECX_FAULT_KILLS_PER_RUN=$${EXECX_FAULT_KILLS_PER_RUN:-4} \
	EXECX_FAULT_SETTLE_S=$${EXECX_FAULT_SETTLE_S:-40} EXECX_FAULT_SUMMARY=$${EXECX_FAULT_SUMMARY:-faults-summary.jsonl} \
		$(BIN)/python -m pytest -q -s -p no:cacheprovider tests/faults

lint: install
	$(BIN)/ruff check server tests bench examples clients/python
	$(BIN)/ruff format --check server tests bench examples clients/python
	$(BIN)/mypy

.PHONY: install demo sim-demo test faults lint
