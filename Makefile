# Two commands set everything up on a fresh machine with Python >= 3.11:
#   make demo   the worker against the embedded sandbox
#   make test   the whole test suite (unit + integration), in parallel; prints the slowest tests
# and before every commit:
#   make check  lint, import contracts, types and the unit tests (about a minute)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test check chromium systemd lint typecheck bench clean

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

demo: $(BIN)/.installed
	$(BIN)/change-connector demo

# Test processes (pytest-xdist). The integration tests mostly wait on HTTP, subprocesses and
# the databases, so more processes than cores pay; each has its own sandboxes, ports (0: free),
# temporary data directories and PostgreSQL schemas. Tests are handed out a few at a time
# (--maxschedchunk), so the slow ones that tests/conftest.py puts first spread over the
# processes instead of queueing in the first one.
TEST_WORKERS ?= 4

test: $(BIN)/.installed chromium systemd
	$(BIN)/pytest -q -n $(TEST_WORKERS) --maxschedchunk 2 --durations=15

check: lint typecheck
	$(BIN)/pytest -q -n 2 tests/unit

# The HTML report's tests render it in a real headless Chromium (Debian's package), which also
# prints `report --format pdf`; the PDF's tests read it back with poppler's pdftotext / pdfinfo.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		{ command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
		  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } || \
		{ echo "install Chromium (Debian: apt-get install chromium)" >&2; exit 1; }
	@command -v pdftotext >/dev/null 2>&1 || \
		{ command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
		  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils; } || \
		{ echo "install poppler-utils (Debian: apt-get install poppler-utils)" >&2; exit 1; }

# The service unit's tests run `systemd-analyze verify` (Debian's systemd package; nothing is
# started: the tool only reads the unit).
systemd:
	@command -v systemd-analyze >/dev/null 2>&1 || \
		{ command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
		  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd; } || \
		{ echo "install systemd-analyze (Debian: apt-get install systemd)" >&2; exit 1; }

lint: $(BIN)/.installed
	$(BIN)/ruff check connector tests bench
	$(BIN)/ruff format --check connector tests bench
	$(BIN)/lint-imports

typecheck: $(BIN)/.installed
	$(BIN)/mypy

# The policy figures (the other benchmarks start servers and take minutes: see bench/README.md).
bench: $(BIN)/.installed
	$(BIN)/python bench/policy_bench.py --count 5000
	$(BIN)/python bench/policy_floor.py --count 5000

clean:
	rm -rf $(VENV) .change-connector out .pytest_cache .mypy_cache .ruff_cache
