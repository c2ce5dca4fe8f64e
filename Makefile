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
ASSIGNMENT := finetune_last_layer
# nbgrader runs helper programs (alembic) by name: the venv's bin must come first.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Network cut for the tests when this user may make a network namespace.
# A new network namespace has only loopback, and it starts down: bring it up (Jupyter kernels talk over it).
OFFLINE := $(shell command -v ip >/dev/null && unshare -n true 2>/dev/null && echo "env COURSE_TESTS_OFFLINE=1 unshare -n sh -c 'ip link set lo up && exec \"\$$@\"' offline")

.PHONY: help setup release demo test test-fast bench calibrate clean-env
.DEFAULT_GOAL := help

help: ## List the targets and how long each takes
	@echo "make demo       build the release, grade a 8-student sample class in the sandbox, print the table (~4 min; first run +3 min of installs)"
	@echo "make test       the whole test suite, network cut (first run ~4 min of installs; suite ~20-30 min)"
	@echo "make test-fast  the tests that run no notebook and train nothing (~2 min)"
	@echo "make setup      only the environment and data (~3 min cold, ~2 s warm)"
	@echo "make release    regenerate release/ from source/ with nbgrader (~15 s)"
	@echo "make bench      benchmarks: set-up, assets, assignment budgets, lectures, thread scaling, grader throughput; writes benchmarks/results/ (~55 min)"
	@echo "make calibrate  rerun the reference solution over 20 seeds and rederive the accuracy bar (~12 min)"
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

release: setup
	$(PY) -m nbgrader generate_assignment $(ASSIGNMENT) --force --log-level=WARN

demo: setup release ## Build the release, grade a sample class, print the table
	@tools/ensure-system-packages.sh
	@rm -rf .data/demo && mkdir -p .data/demo/course
	@cp -r source nbgrader_config.py .data/demo/course/
	@echo "Sample class (8 students):"
	@$(PY) tools/sample_class.py .data/demo/submissions
	$(PY) -m autograder grade $(ASSIGNMENT) .data/demo/submissions --out .data/demo/out --course-dir .data/demo/course --workers 2
	@echo "Grades: .data/demo/out/grades.csv  feedback: .data/demo/out/feedback/  gradebook: .data/demo/course/gradebook.db"

test: setup ## Run every test (the network cut when possible)
	@tools/ensure-system-packages.sh
	$(OFFLINE) $(PY) -m pytest tests $(PYTEST_ARGS)

test-fast: setup
	$(OFFLINE) $(PY) -m pytest tests -m "not slow" $(PYTEST_ARGS)

bench: setup release
	$(PY) benchmarks/bench_setup.py
	$(PY) benchmarks/bench_assignment.py
	$(PY) benchmarks/bench_lectures.py
	$(PY) benchmarks/bench_thread_scaling.py
	$(PY) benchmarks/bench_grader.py

calibrate: setup
	$(PY) benchmarks/calibrate_finetune_last_layer.py

clean-env:
	rm -rf $(VENV) .data
