# Each target sets up .venv itself, so a fresh clone needs only python3, make and git.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-requirements

.PHONY: setup run test test-fast lint format bench clean

setup: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.txt
	@touch $(STAMP)

run: setup
	$(BIN)/python app.py

# Two pytest-xdist workers: most tests wait on a subprocess, a socket or a job, so two share two cores
# well (1 runs them in this process, as plain pytest does).
TEST_WORKERS ?= 2

test: setup lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

# Everything but the end-to-end tests (a real server process, long media jobs): the quick loop while editing.
test-fast: setup lint
	$(BIN)/python -m pytest -m "not e2e" -n $(TEST_WORKERS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
