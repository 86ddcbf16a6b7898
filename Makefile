# The two set-up commands of the README. Each creates .venv and installs what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,local]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pactjury run suites/itsm --target python:suites/itsm/agent.py:respond --agent itsm-example --agent-version 1.0

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/bench_checks.py

clean:
	rm -rf $(VENV) results/*.duckdb results/*.html
