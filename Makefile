# Two commands do all the set-up: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# A prebuilt QuickFIX wheel (a test dependency) is used when ../shared/wheels has one; else pip builds
# it from source (~4 minutes, needs g++).
WHEELS := $(wildcard ../shared/wheels)

# clients/python is the `execx-client` distribution (generated execx.v1 stubs) the service imports.
$(VENV)/.installed: pyproject.toml clients/python/pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q $(if $(WHEELS),--find-links $(WHEELS)) -e '.[dev]' -e ./clients/python
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python examples/demo.py

sim-demo: install
	$(BIN)/python examples/sim_demo.py

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check server tests bench examples
	$(BIN)/mypy

.PHONY: install demo sim-demo test lint
