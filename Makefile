# The two set-up commands of the README. Each creates .venv and installs what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# llama-cpp-python compiles llama.cpp: build only the library (no multimodal, tools, tests or server).
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2
# The demo: the IT service desk suite against the embedded model as a few-shot classifier, judged by the local panel.
DEMO_ARGS := suites/itsm --target local/gemma-3-270m --target-system suites/itsm/local-agent.txt \
	--target-schema suites/itsm/reply.schema.json --max-tokens 160 --panel local \
	--no-adversarial --agent gemma-3-270m-fewshot --agent-version 1 --concurrency 2

.PHONY: demo test bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,local]'
	touch $(STAMP)

# Exit status 1 means a clause was breached: a finding of the demo, not a failure of it.
demo: $(STAMP)
	$(BIN)/pactjury run $(DEMO_ARGS) || [ $$? -eq 1 ]

test: $(STAMP)
	.ci/ensure-chromium
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/bench_checks.py

clean:
	rm -rf $(VENV) results/*.duckdb results/*.html
