# Two commands do all set-up on a fresh machine:  `make demo` (the main job) and `make test` (the test suite).
# Each creates .venv if missing, installs torch (TORCH=... to override the pin), then msg with its extras.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
EXTRAS ?= test,plot
BIN := $(VENV)/bin
STAMP := $(VENV)/.msg-installed
PYTEST_ARGS ?=

.PHONY: demo test install lint clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip "setuptools>=70" wheel

# Every later install is constrained to the torch that is installed now, so no dependency can replace it
# (an unpinned `torch` would pull a multi-GB CUDA build). spikingjelly (a peer reference in the tests) is installed
# without its dependencies: it asks for torchvision/torchaudio, which do not work beside this torch; of the rest, its
# neuron module needs only loguru (pip then reports the two missing packages it asked for, which is expected).
$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -c "import torch; print('torch==' + torch.__version__.split('+')[0])" > $(VENV)/constraints.txt
	$(BIN)/python -m pip install --quiet -c $(VENV)/constraints.txt -e ".[$(EXTRAS)]"
	$(BIN)/python -m pip install --quiet -c $(VENV)/constraints.txt --no-deps "spikingjelly==2.0.0"
	$(BIN)/python -m pip install --quiet -c $(VENV)/constraints.txt "loguru>=0.7"
	touch $@

# The compiled `scatter` extra (torch-scatter, torch-sparse: SparseTensor inputs, PyG's NeighborLoader) builds from
# source against the installed torch, so it needs --no-build-isolation (an isolated build would fetch another torch).
# About 15 minutes on 2 cores the first time; pip's wheel cache makes later installs quick. SCATTER=0 skips it.
SCATTER ?= 1
SCATTER_STAMP := $(VENV)/.msg-scatter

$(SCATTER_STAMP): $(STAMP)
	if [ "$(SCATTER)" = "1" ]; then $(BIN)/python -m pip install --quiet --no-build-isolation \
		-c $(VENV)/constraints.txt "torch-scatter>=2.1.2" "torch-sparse>=0.6.18"; fi
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/msg train

test: $(SCATTER_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check msg manifolds datasets tests benchmarks examples

clean-venv:
	rm -rf $(VENV)
