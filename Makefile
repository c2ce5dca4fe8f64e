# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Both create or update the project-local environment (.venv) and data folder
# (.data) first; a second run installs nothing and starts in seconds.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
# pip repeats a harmless notice for every package when an extra index is a missing folder.
QUIET_PIP := 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# The stamp's name carries a hash of the requirement files, so editing them reinstalls.
REQ_HASH := $(shell cat requirements.txt requirements-nodeps.txt constraints.txt | sha256sum | cut -c1-12)
ENV_STAMP := $(VENV)/.installed-$(REQ_HASH)
DATA_STAMP := .data/.prepared-$(shell cat coursekit/asset_manifest.json coursekit/data.py coursekit/nltk_data.py | sha256sum | cut -c1-12)
# Network cut for the tests when this user may make a network namespace.
OFFLINE := $(shell unshare -n true 2>/dev/null && echo "env COURSE_TESTS_OFFLINE=1 unshare -n")

.PHONY: help setup demo test test-fast bench clean-env
.DEFAULT_GOAL := help

help: ## List the targets and how long each takes
	@echo "make demo       build the student release and run the reference solution (first run ~4 min: installs; then ~2 min)"
	@echo "make test       the whole test suite, network cut (first run ~4 min of installs; suite ~20-30 min)"
	@echo "make test-fast  the tests that run no notebook and train nothing (~2 min)"
	@echo "make setup      only the environment and data (~3 min cold, ~2 s warm)"
	@echo "make bench      set-up and asset-loading benchmark, writes benchmarks/results/ (~4 min)"
	@echo "make clean-env  delete .venv and .data"

setup: $(ENV_STAMP) $(DATA_STAMP)

$(ENV_STAMP): requirements.txt requirements-nodeps.txt constraints.txt
	@tools/ensure-system-packages.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@rm -f $(VENV)/.installed-*
	$(PY) -m pip install --quiet --no-input -r requirements.txt -c constraints.txt $(QUIET_PIP)
	$(PY) -m pip install --quiet --no-input --no-deps -r requirements-nodeps.txt $(QUIET_PIP)
	@# The project root on the venv's path: notebooks, tests and grader import coursekit from anywhere.
	@echo "$(CURDIR)" > $$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/course-project.pth
	@touch $@

$(DATA_STAMP): $(ENV_STAMP)
	@rm -f .data/.prepared-*
	$(PY) -m coursekit prepare
	@touch $@

demo: setup ## Run the main job on bundled data
	@tools/ensure-system-packages.sh
	$(PY) -m coursekit verify
	$(PY) -m coursekit describe-data

test: setup ## Run every test (the network cut when possible)
	@tools/ensure-system-packages.sh
	$(OFFLINE) $(PY) -m pytest tests $(PYTEST_ARGS)

test-fast: setup
	$(OFFLINE) $(PY) -m pytest tests -m "not slow" $(PYTEST_ARGS)

bench: setup
	$(PY) benchmarks/bench_setup.py

clean-env:
	rm -rf $(VENV) .data
