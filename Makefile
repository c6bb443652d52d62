# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
DEMO_DB := data/outcomes.db
# `make run PORT=8502` serves on another port.
PORT   ?= 8501
# pytest's workers (pytest-xdist): one per core; `make test WORKERS=0` runs the tests in one process.
WORKERS ?= auto
# The locks pin every package, direct and transitive, with hashes (README, "Dependencies").
LOCK_FLAGS := --generate-hashes --universal --python-version 3.11 --custom-compile-command "make lock" \
	$(if $(UPGRADE),--upgrade)

.PHONY: run test lint typecheck bench demo clean lock lock-check

$(VENV)/.installed-app: requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-app requirements-dev.lock
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.lock
	touch $@

# The demo clinic is written on first run only; written to a temporary file first so that an
# interrupted run never leaves a half-made database behind.
$(DEMO_DB): | $(VENV)/.installed-app
	rm -f $(DEMO_DB).tmp
	$(PY) -m analysis demo --db sqlite:///$(DEMO_DB).tmp
	mv $(DEMO_DB).tmp $(DEMO_DB)

run: $(VENV)/.installed-app $(DEMO_DB)
	$(VENV)/bin/streamlit run dashboard.py --server.port $(PORT)

test: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(PY) -m pytest -n $(WORKERS)

# Speed and memory at scale; prints one table. BENCH_ARGS="--sizes 100k,1m,10m" adds the 10M clinic.
bench: $(VENV)/.installed-dev
	$(PY) -m benchmarks $(BENCH_ARGS)

typecheck: $(VENV)/.installed-dev
	$(VENV)/bin/mypy

# After changing a pin in requirements*.txt: `make lock` writes the locks again, keeping every
# other version; `make lock UPGRADE=1` also moves transitive packages to their newest allowed
# versions. Then `make test` (tests/test_packaging.py checks that pins and locks agree).
lock: $(VENV)/.installed-dev
	$(VENV)/bin/uv pip compile requirements.txt $(LOCK_FLAGS) -o requirements.lock
	$(VENV)/bin/uv pip compile requirements-dev.txt -c requirements.lock $(LOCK_FLAGS) -o requirements-dev.lock

# Compiles the locks afresh (needs the package index) and fails if they differ from the committed ones.
lock-check: $(VENV)/.installed-dev
	rm -rf .lock-check && mkdir .lock-check && cp requirements.lock requirements-dev.lock .lock-check/
	$(VENV)/bin/uv pip compile -q requirements.txt $(LOCK_FLAGS) -o .lock-check/requirements.lock
	diff -u requirements.lock .lock-check/requirements.lock
	$(VENV)/bin/uv pip compile -q requirements-dev.txt -c requirements.lock $(LOCK_FLAGS) \
		-o .lock-check/requirements-dev.lock
	diff -u requirements-dev.lock .lock-check/requirements-dev.lock
	rm -rf .lock-check

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

demo: $(VENV)/.installed-app
	$(PY) -m analysis demo --db sqlite:///$(DEMO_DB)

clean:
	rm -rf $(VENV) $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm $(DEMO_DB).tmp
