# Two commands do all the set-up: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python examples/sim_demo.py

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check server tests bench examples
	$(BIN)/mypy

.PHONY: install demo test lint
