# The README's two set-up commands: `make run` and `make test`. Both work on a fresh
# Debian 12 machine: they install what they need first.
VENV := .venv
STAMP := $(VENV)/.installed
PYTHON ?= python3

.PHONY: run test install clean

$(STAMP): pyproject.toml setup.py requirements.lock scripts/install-system.sh src/sightline/indexes/_mih.c
	scripts/install-system.sh
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/sightline init
	$(VENV)/bin/sightline demo load
	$(VENV)/bin/sightline serve

test: install
	scripts/install-system.sh --with-postgres
	scripts/run-tests.sh

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
