# Two entry points for a fresh machine: `make demo` and `make test` (see README.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install -q -c constraints.txt

.PHONY: demo test setup setup-test bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

setup: $(BIN)/python
	$(PIP) -e .

setup-test: $(BIN)/python
	$(PIP) -e '.[test]'

demo: setup
	$(BIN)/mmtok tokenize --model qwen2-vl --image mmtok/data/sample.jpg --prompt "Describe this image."

test: setup-test
	$(BIN)/python -m pytest

bench: setup-test
	$(BIN)/python bench/qwen2_vl_images.py

clean:
	rm -rf $(VENV) build *.egg-info
