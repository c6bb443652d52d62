# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
DEMO_DB := data/outcomes.db

.PHONY: run test lint bench demo clean

$(VENV)/.installed-app: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-app requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# The demo clinic is written on first run only; written to a temporary file first so that an
# interrupted run never leaves a half-made database behind.
$(DEMO_DB): | $(VENV)/.installed-app
	rm -f $(DEMO_DB).tmp
	$(PY) -m analysis demo --db sqlite:///$(DEMO_DB).tmp
	mv $(DEMO_DB).tmp $(DEMO_DB)

run: $(VENV)/.installed-app $(DEMO_DB)
	$(VENV)/bin/streamlit run dashboard.py

test: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

# Speed and memory at scale; prints one table. BENCH_ARGS="--sizes 100k,1m,10m" adds the 10M clinic.
bench: $(VENV)/.installed-dev
	$(PY) -m benchmarks $(BENCH_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

demo: $(VENV)/.installed-app
	$(PY) -m analysis demo --db sqlite:///$(DEMO_DB)

clean:
	rm -rf $(VENV) $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm $(DEMO_DB).tmp
