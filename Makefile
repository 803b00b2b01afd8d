# The two commands a new user types: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Where `make run` listens: `PORT=8001 make run`, `HOST=0.0.0.0 make run` (every interface).
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist workers for `make test`; `make test TEST_WORKERS=0` runs in one process.
TEST_WORKERS ?= 2

.PHONY: install run test lint fmt hooks bench clean

install: $(STAMP)

# compileall: bytecode also for what an older venv installed uncompiled. With
# PYTHONDONTWRITEBYTECODE set, every process (each test worker, each CLI command the tests
# run) would otherwise compile the dependencies again.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -e '.[dev,postgres,redis,clickhouse]'
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null
	touch $(STAMP)

run: install
	$(BIN)/growthloop demo --host $(HOST) --port $(PORT)

test: install
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal

lint: install
	$(BIN)/ruff check src tests bench migrations tools
	$(BIN)/ruff format --check src tests bench migrations tools
	$(BIN)/mypy
	$(BIN)/lint-imports

# Rewrites the code the way `make lint` wants it (import order, fixable rules, layout).
fmt: install
	$(BIN)/ruff check --fix --quiet src tests bench migrations tools
	$(BIN)/ruff format --quiet src tests bench migrations tools

# Runs ruff and the import contracts before each commit (.pre-commit-config.yaml).
hooks: install
	$(BIN)/pre-commit install

bench: install
	$(BIN)/python bench/orders.py
	$(BIN)/python bench/loyalty.py
	$(BIN)/python bench/flash_sale.py
	$(BIN)/python bench/analytics.py
	$(BIN)/python bench/erasure.py

clean:
	rm -rf $(VENV) data
