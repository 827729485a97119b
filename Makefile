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

# The browser tests drive Debian's Chromium (Playwright's own browser download fails here).
CHROMIUM := /usr/bin/chromium
# The no-outside-requests tests trace every process and thread of the app with strace.
STRACE := /usr/bin/strace
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install index run test lint bench screenshot clean

install: $(STAMP)

$(CHROMIUM):
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium

$(STRACE):
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q strace

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

test: install $(CHROMIUM) $(STRACE)
	$(BIN)/python -m pytest

# Re-make the README's screenshot of a cited answer (docs/chat-answer.png) with the browser test.
screenshot: install $(CHROMIUM)
	UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest tests/test_browser.py -k cited_answer

# Every benchmark (about an hour on 2 cores from nothing); figures printed and written to bench/results/.
bench: index
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf .data .pytest_cache .mypy_cache .ruff_cache
