# Two commands for a newcomer: `make run` and `make test`. Both build the venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# What pip installs into the venv; the Dockerfile runs this same target with INSTALL=. (the
# package without the dev extra), so the image and a developer's venv cannot drift.
INSTALL ?= -e '.[dev]'

.PHONY: run test lint bench clean node-clients screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(INSTALL)
	touch $(STAMP)

# `make run PORT=8081 UPSTREAM_PORT=9001`: the example's provider URL follows UPSTREAM_PORT.
PORT ?= 8080
UPSTREAM_PORT ?= 9000
RUN_CONFIG := data/config.run.json

run: $(STAMP)
	@mkdir -p data
	@sed 's#http://127.0.0.1:9000/#http://127.0.0.1:$(UPSTREAM_PORT)/#' config.example.json > $(RUN_CONFIG)
	@echo "govledger: web UI at http://127.0.0.1:$(PORT)/ui/ (sign in with GOVLEDGER_ADMIN_TOKEN or the admin token printed below), API docs at http://127.0.0.1:$(PORT)/docs"
	$(BIN)/govledger serve --config $(RUN_CONFIG) --port $(PORT) --mock-upstream $(UPSTREAM_PORT)

# The UI's screenshots in docs/ui/ (docs/ui.md shows them), taken by its browser tests.
screenshots: $(STAMP)
	GOVLEDGER_UI_SCREENSHOTS=docs/ui $(BIN)/python -m pytest -q tests/ui/test_browser.py -k sqlite

# The Node/TypeScript clients of tests/e2e/test_node_clients.py, pinned by the lock file.
node-clients:
	@if command -v npm >/dev/null; then npm ci --prefix tests/node --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the Node client tests will be skipped"; fi

test: $(STAMP) node-clients
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) data
