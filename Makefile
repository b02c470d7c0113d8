# Conductor — the two commands: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=24" "setuptools>=69" wheel

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"
	touch $@ $(VENV)/.installed

## make run: the product, embedded by default (SQLite, filesystem broker), in the foreground.
run: $(VENV)/.installed
	@exec scripts/run

## make test: the whole suite on PostgreSQL and Redis (started here when stopped).
test: $(VENV)/.installed-dev
	@scripts/ensure-services
	@exec scripts/test

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## make bench [NAME=engine]: benchmarks, each printing the baseline beside Conductor.
bench: $(VENV)/.installed-dev
	@scripts/ensure-services
	@scripts/bench $(NAME)

clean:
	rm -rf var .pytest_cache .ruff_cache
