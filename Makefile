# Two commands on a fresh machine: `make figures` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# auto: the report's full protocol with real data and a GPU, else the CPU demo on synthetic data
PROFILE ?= auto
DATA ?=
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: setup test lint figures clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH_PINS)
	$(BIN)/pip install --quiet -e '.[test,notebooks]' $(TORCH_PINS)
	touch $(STAMP)

setup: $(STAMP)

lint: setup
	$(BIN)/ruff check practical3 tests benchmarks

# Unit tests, then every notebook re-run by nbval in the smoke profile on tiny synthetic data.
# Figures, runs and caches made by tests go to a scratch folder (conftest.py).
test: lint
	PRACTICAL3_PROFILE=smoke $(BIN)/python -m pytest --nbval-lax --nbval-current-env tests notebooks

figures: setup
	$(BIN)/python -m practical3 pipeline --profile $(PROFILE) $(if $(DATA),--data $(DATA))

clean:
	rm -rf data/cache data/synthetic* runs
