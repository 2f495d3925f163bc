# Two commands on a fresh machine: `make figures` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# auto: the one table of practical3/session.py (GPU: full; CPU: laptop on real data, else demo)
PROFILE ?= auto
DATA ?=
DATA_LABEL ?=
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
# The index torch comes from: PyPI's CUDA build by default (what CI uses); on a machine without
# a GPU, TORCH_INDEX=https://download.pytorch.org/whl/cpu installs the CPU build instead, without
# the CUDA libraries (3.2 GB of the 6.1 GB .venv measured with the default).
TORCH_INDEX ?=
EXTRAS := test,notebooks,dicom
# Every package of the venv pinned to one version; `make pin` rewrites it (and environment.yml).
CONSTRAINTS := .ci/constraints.txt
PIN_VENV := .pin-venv

.PHONY: setup test lint figures reproduce spread release grade lab notebooks-real clean pin

# $(call install,VENV,PIP_OPTIONS): torch first (from TORCH_INDEX when set), then the project with
# its extras.
define install
	$(1)/bin/pip install --quiet $(2) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) $(TORCH_PINS)
	$(1)/bin/pip install --quiet $(2) -e '.[$(EXTRAS)]' $(TORCH_PINS)
endef

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(call install,$(VENV),-c $(CONSTRAINTS))
	touch $(STAMP)

setup: $(STAMP)

# Re-pin in one command: resolve pyproject.toml and TORCH_PINS afresh, unconstrained, in a
# throwaway venv; its `pip freeze` becomes $(CONSTRAINTS) and the versions of environment.yml.
pin:
	rm -rf $(PIN_VENV)
	$(PYTHON) -m venv $(PIN_VENV)
	$(call install,$(PIN_VENV),)
	$(PIN_VENV)/bin/python .ci/pin.py --freeze
	rm -rf $(PIN_VENV)

lint: setup
	$(BIN)/ruff check practical3 tests benchmarks notebooks .ci

# Unit tests, then every notebook re-run by nbval in the smoke profile on tiny synthetic data.
# Figures, runs and caches made by tests go to a scratch folder (conftest.py).
test: lint
	PRACTICAL3_PROFILE=smoke $(BIN)/python -m pytest --nbval-lax --nbval-current-env tests notebooks

# The whole pipeline (data, training, evaluation, figures, report): `practical3 pipeline`.
figures: setup
	$(BIN)/python -m practical3 pipeline --profile $(PROFILE) $(if $(DATA),--data $(DATA)) \
		$(if $(DATA_LABEL),--data-label "$(DATA_LABEL)")

# Every committed report regenerated from scratch in runs/reproduce/ and compared with the
# committed numbers (exit 0 when all reproduce); the real report only with DATA=PATH.
reproduce: setup
	$(BIN)/python -m practical3 reproduce $(if $(DATA),--data $(DATA))

# Each number's training spread over seeds of a committed report's protocol, kept beside it
# (docs/reproducing.md): make spread PLACE=twin [MACHINES=1] (PLACE=real needs DATA=PATH);
# MACHINES=1 also retrains the committed seed on simulated machines: their spread is the tolerance.
PLACE ?= twin
SEEDS ?= 0 1 2 3 4
spread: setup
	$(BIN)/python -m practical3 spread --place $(PLACE) --seeds $(SEEDS) $(if $(DATA),--data $(DATA)) $(if $(MACHINES),--machines)

# Teaching (docs/teaching.md): make release OUT=../course [REPO_URL=...] [SOLUTIONS=1];
# make grade SUBMISSIONS=folder [GRADES=grades] [TIMEOUT=600].
GRADES ?= grades
release: setup
	$(BIN)/python -m practical3 release $(OUT) $(if $(REPO_URL),--repo-url $(REPO_URL)) \
		$(if $(SOLUTIONS),--solutions)

grade: setup
	$(BIN)/python -m practical3 grade $(SUBMISSIONS) --out $(GRADES) $(if $(TIMEOUT),--timeout $(TIMEOUT))

# The course: JupyterLab on the notebooks (01 to 04).
lab: setup
	$(BIN)/jupyter lab notebooks

# The four notebooks run headless on real COVID-QU-Ex at the laptop profile, every output kept,
# into docs/notebooks/ (docs/course.md): make notebooks-real DATA=/path/to/covidqu. It reuses the
# laptop run in runs/ when there is one (else notebook 03 trains it).
notebooks-real: setup
	$(if $(DATA),,$(error give the real data: make notebooks-real DATA=/path/to/covidqu))
	$(BIN)/python -m practical3.course.render docs/notebooks --data $(DATA) --profile laptop

clean:
	rm -rf data/cache data/synthetic* runs
