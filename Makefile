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
REQ_HASH := $(shell cat requirements.txt requirements-nodeps.txt constraints.txt pyproject.toml | sha256sum | cut -c1-12)
ENV_STAMP := $(VENV)/.installed-$(REQ_HASH)
DATA_STAMP := .data/.prepared-$(shell cat coursekit/asset_manifest.json coursekit/data.py coursekit/nltk_data.py | sha256sum | cut -c1-12)
# Every assignment is a folder under source/ (and a plug-in under autograder/assignments/).
ASSIGNMENTS := $(notdir $(wildcard source/*))
# nbgrader runs helper programs (alembic) by name: the venv's bin must come first.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Network cut for the tests when this user may make a network namespace.
# A new network namespace has only loopback, and it starts down: bring it up (Jupyter kernels talk over it).
OFFLINE := $(shell command -v ip >/dev/null && unshare -n true 2>/dev/null && echo "env COURSE_TESTS_OFFLINE=1 unshare -n sh -c 'ip link set lo up && exec \"\$$@\"' offline")

.PHONY: help setup release demo test test-extended test-fast bench calibrate clean-env
.DEFAULT_GOAL := help

help: ## List the targets and how long each takes
	@echo "make demo       build the releases, grade a small sample class of every assignment in the sandbox, print the tables (~8 min on a slow 2-core runner; first run +4 min of installs)"
	@echo "make test       the test suite, network cut (first run ~2-4 min of installs; suite ~68 min on a slow 2-core runner, ~30 on a fast one, most of it grading the fixture corpora)"
	@echo "make test-extended  what make test leaves out to fit CI: transfer_vs_scratch's corpus, lectures 03 and 05, ~23 min"
	@echo "make test-fast  the tests that run no notebook and train nothing (~5 min)"
	@echo "make setup      only the environment and data (~3 min cold, ~2 s warm)"
	@echo "make release    regenerate release/ from source/ with nbgrader (~15 s)"
	@echo "make bench      benchmarks: set-up, assets, assignment budgets, lectures, grader throughput; writes benchmarks/results/ (~60 min)"
	@echo "make calibrate  rerun every assignment's reference solution over its seeds and rederive its bar (~30 min)"
	@echo "make clean-env  delete .venv and .data"

setup: $(ENV_STAMP) $(DATA_STAMP)

$(ENV_STAMP): requirements.txt requirements-nodeps.txt constraints.txt pyproject.toml
	@tools/ensure-system-packages.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@rm -f $(VENV)/.installed-*
	$(PY) -m pip install --quiet --no-input -r requirements.txt -c constraints.txt $(QUIET_PIP)
	$(PY) -m pip install --quiet --no-input --no-deps -r requirements-nodeps.txt $(QUIET_PIP)
	@# The course's own packages (coursekit, autograder), installed in place from pyproject.toml.
	@rm -f $$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/course-project.pth
	$(PY) -m pip install --quiet --no-input --no-deps --no-build-isolation -e . $(QUIET_PIP)
	@touch $@

$(DATA_STAMP): $(ENV_STAMP)
	@rm -f .data/.prepared-*
	$(PY) -m coursekit prepare
	@touch $@

release: setup
	@for a in $(ASSIGNMENTS); do $(PY) -m autograder release $$a || exit 1; done

demo: setup release ## Build the release, grade a sample class of every assignment, print the tables
	@tools/ensure-system-packages.sh
	@rm -rf .data/demo
	@$(PY) -m autograder course init .data/demo/course > /dev/null
	@echo "Sample class (every assignment: the reference, a mistake, two attacks, a broken file):"
	@$(PY) tools/sample_class.py .data/demo/submissions
	@for a in $(ASSIGNMENTS); do \
	  $(PY) -m autograder grade $$a .data/demo/submissions/$$a --out .data/demo/out/$$a --course-dir .data/demo/course --workers 2 || exit 1; \
	done
	@echo "Grades: .data/demo/out/<assignment>/grades.csv  feedback: .data/demo/out/<assignment>/feedback/  gradebook: .data/demo/course/gradebook.db"

test: setup ## Run every test (the network cut when possible)
	@tools/ensure-system-packages.sh --browser
	$(OFFLINE) $(PY) -m pytest tests -m "not extended" $(PYTEST_ARGS)

test-extended: setup ## The longest runs that `make test` leaves out: transfer_vs_scratch's corpus, lectures 03 and 05
	@tools/ensure-system-packages.sh
	$(OFFLINE) $(PY) -m pytest tests -m extended $(PYTEST_ARGS)

test-fast: setup
	$(OFFLINE) $(PY) -m pytest tests -m "not slow" $(PYTEST_ARGS)

bench: setup release ## Benchmarks: set-up, assets, assignment and lecture budgets, grader throughput
	$(PY) benchmarks/bench_setup.py
	$(PY) benchmarks/bench_assignment.py
	$(PY) benchmarks/bench_lectures.py
	$(PY) benchmarks/bench_grader.py

calibrate: setup
	@for a in $(ASSIGNMENTS); do $(PY) -m autograder.assignments.$$a.calibrate || exit 1; done

clean-env:
	rm -rf $(VENV) .data
