# Dockyard: the two commands of the quick start are `make serve` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
DATA   ?= ./data

.PHONY: serve test lint unit bench system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever the dependency list changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

serve: $(VENV)/.installed
	$(BIN)/dockyard serve --host $(HOST) --port $(PORT) --data-dir $(DATA)

system-deps:
	scripts/install-system-deps.sh

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/lint-imports

test: $(VENV)/.installed system-deps lint
	$(BIN)/pytest

unit: $(VENV)/.installed
	$(BIN)/pytest tests/unit tests/conformance tests/api

bench: $(VENV)/.installed system-deps
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
