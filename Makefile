# The two commands: `make demo` runs the demo, `make test` runs every check and test.
# Both create .venv and install what they need, and the Debian packages prometheus and
# prometheus-alertmanager (promtool, amtool, the real servers) where they can: `make test`
# needs them, `make demo` runs without them and says what the user misses.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_ARGS ?=

.PHONY: demo demo-deps screenshots test lint typecheck pytest system-deps bench docs clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.demo-installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e '.[demo]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.demo-installed

demo: $(VENV)/.demo-installed demo-deps
	$(VENV)/bin/agentwatch demo $(DEMO_ARGS)

# prometheus and alertmanager for the demo, where this user may install Debian packages
# (root, or sudo without a password); otherwise the demo runs without them and says so
demo-deps:
	@if ! command -v prometheus >/dev/null || ! { command -v alertmanager >/dev/null || command -v prometheus-alertmanager >/dev/null; }; then \
		if command -v apt-get >/dev/null && { [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then \
			echo "installing Debian packages prometheus prometheus-alertmanager"; \
			{ $(SUDO) apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null; } || \
			echo "could not install prometheus and prometheus-alertmanager: the demo runs without them"; \
		fi; \
	fi

# promtool, amtool and the real servers; headless Chromium and its driver for the web pages
system-deps:
	@if ! command -v promtool >/dev/null || ! command -v amtool >/dev/null || ! { command -v alertmanager >/dev/null || command -v prometheus-alertmanager >/dev/null; } || ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		echo "installing Debian packages prometheus prometheus-alertmanager chromium chromium-driver"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq prometheus prometheus-alertmanager chromium chromium-driver >/dev/null; \
	fi

# the pictures of docs/images: the short demo's incident in the hub's pages (headless Chromium)
screenshots: $(VENV)/.dev-installed system-deps
	$(PY) -m agentwatch.demo.screenshots --out docs/images

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: $(VENV)/.dev-installed
	$(VENV)/bin/mypy src/agentwatch

pytest: $(VENV)/.dev-installed system-deps
	$(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(VENV)/.dev-installed
	$(PY) bench/overhead.py

docs: $(VENV)/.dev-installed
	$(VENV)/bin/agentwatch docs --out docs

clean:
	rm -rf $(VENV) build dist src/*.egg-info
