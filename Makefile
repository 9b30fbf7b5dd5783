# Two commands for a newcomer: `make run` and `make test`. Both build the venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# `make run PORT=8081 UPSTREAM_PORT=9001`: the example's provider URL follows UPSTREAM_PORT.
PORT ?= 8080
UPSTREAM_PORT ?= 9000
RUN_CONFIG := data/config.run.json

run: $(STAMP)
	@mkdir -p data
	@sed 's#http://127.0.0.1:9000/#http://127.0.0.1:$(UPSTREAM_PORT)/#' config.example.json > $(RUN_CONFIG)
	$(BIN)/govledger serve --config $(RUN_CONFIG) --port $(PORT) --mock-upstream $(UPSTREAM_PORT)

test: $(STAMP)
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
