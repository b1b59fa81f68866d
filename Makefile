# Every target installs what it needs into .venv itself, so each works on a fresh machine with Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint fuzz bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## demo: evaluate the shipped sample category and show the summary table
demo: $(STAMP)
	$(BIN)/aupimo evaluate sample_data/model_a/gear/test sample_data/mvtec/gear/ground_truth --out results/sample --overwrite

## test: run the whole test suite (ruff first, then pytest)
test: $(STAMP)
	$(BIN)/ruff check aupimo_cli tests benchmarks scripts
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check aupimo_cli tests benchmarks scripts
	$(BIN)/ruff format --check aupimo_cli tests benchmarks scripts

## bench: time every stage and metric on MVTec-sized synthetic data
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_metrics.py

clean:
	rm -rf $(VENV) results .pytest_cache .ruff_cache
