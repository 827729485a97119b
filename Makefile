# The front door: `make run` serves the app, `make test` runs the suite; both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

# Nothing is downloaded at run time: models come from PyPI packages, analytics are off.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False

.PHONY: install index run test lint bench clean

install: $(STAMP)

$(STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: 2.13.0 is the local CPU build; anything else pulls CUDA wheels.
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

index: install
	$(BIN)/python -m index build || echo "warning: some files were skipped (see above)"

run: index
	$(BIN)/python app.py

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python -m bench scifact

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf .data .pytest_cache .mypy_cache .ruff_cache
