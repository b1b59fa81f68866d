# Every target installs what it needs into .venv itself, so each works on a fresh machine with Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint fuzz bench bench-peers clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# Compile the numba kernels once, at install, as a compiled package would: the first run is then warm.
	$(BIN)/python -m aupimo_cli.metrics._warmup
	touch $(STAMP)

## demo: evaluate a shipped sample category at thresholds chosen on its validation maps, show the tables, and write its HTML report
demo: $(STAMP)
	$(BIN)/aupimo evaluate sample_data/model_b/widget/test sample_data/mvtec/widget/ground_truth \
		--val-maps sample_data/model_b/widget/validation --frr 0.05 --soft-frr 0.2 \
		--out results/sample --overwrite
	$(BIN)/aupimo report results/sample

## test: run the whole test suite (ruff and mypy first, then pytest)
test: $(STAMP)
	$(BIN)/ruff check aupimo_cli tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

## fuzz: many more random trees than the test suite runs
fuzz: $(STAMP)
	AUPIMO_FUZZ_EXAMPLES=3000 $(BIN)/python -m pytest -q tests/test_fuzz.py --hypothesis-show-statistics

lint: $(STAMP)
	$(BIN)/ruff check aupimo_cli tests benchmarks scripts
	$(BIN)/ruff format --check aupimo_cli tests benchmarks scripts

## bench: time every stage and metric on MVTec-sized synthetic data
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_metrics.py
	$(BIN)/python benchmarks/bench_evaluate.py
	$(BIN)/python benchmarks/bench_benchmark.py
	$(BIN)/python benchmarks/bench_report.py

# The peers (anomalib, torch, scikit-learn, ADEval) live in their own venv, never in the project's.
PEERS_VENV := .venv-peers
PEERS_STAMP := $(PEERS_VENV)/.installed-stamp

$(PEERS_STAMP): pyproject.toml
	$(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PEERS_VENV)/bin/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PEERS_VENV)/bin/python -m pip install --quiet anomalib==2.7.0 scikit-learn adeval==1.1.0
	$(PEERS_VENV)/bin/python -m pip install --quiet -e .
	touch $(PEERS_STAMP)

## bench-peers: our metrics against anomalib, scikit-learn and ADEval on the same arrays, side by side
bench-peers: $(PEERS_STAMP)
	$(PEERS_VENV)/bin/python benchmarks/compare_peers.py

clean:
	rm -rf $(VENV) $(PEERS_VENV) results bench_out .pytest_cache .ruff_cache
