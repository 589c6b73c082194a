# Machi Ledger — the two commands a newcomer needs: `make run` and `make test`.
# Everything is installed from the project's own files (pyproject.toml, contracts/package-lock.json).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
NODE_STAMP := contracts/node_modules/.package-lock.json
BENCH  ?=
SOAK_ARGS ?=
PYTEST_ARGS ?=

.PHONY: setup browser run test bench soak lint typecheck demo clean help

help:
	@echo "make run    install everything, start the chain, deploy, serve http://127.0.0.1:8000"
	@echo "make test   install everything, run the whole test suite (PostgreSQL if DATABASE_URL is set)"
	@echo "make demo   the whole story (two residents, a merchant, a clerk) against the service make run serves"
	@echo "make bench  run benchmarks (BENCH=name for one); one JSON line each"
	@echo "make soak   10,000 payments under kill -9 and a chain RPC outage; one JSON line (SOAK_ARGS=...)"
	@echo "make lint   ruff + mypy"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

$(NODE_STAMP): contracts/package.json contracts/package-lock.json
	cd contracts && npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

setup: $(STAMP) $(NODE_STAMP)

# Browser tests drive Debian's Chromium (never a downloaded browser); Japanese needs CJK fonts.
browser:
	@command -v chromium >/dev/null 2>&1 && fc-list :lang=ja 2>/dev/null | grep -q . || \
	  { echo "installing chromium and Japanese fonts (apt-get)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk >/dev/null || \
	    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk >/dev/null; }; }

# `machi deploy` holds the admin key (development: anvil's account 0); `machi serve` never loads it.
run: setup
	$(VENV)/bin/machi deploy && $(VENV)/bin/machi serve

test: setup browser
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(PY) -m scripts.bench $(BENCH)

# 10,000 payments from 100 clients with 5 kill -9 restarts and a 30 s chain RPC outage (SOAK_ARGS=--help)
soak: setup
	$(PY) -m scripts.soak $(SOAK_ARGS)

# The whole story against the service `make run` serves (run it in another terminal); re-runnable.
demo: setup
	$(PY) -m scripts.demo

lint: setup
	$(VENV)/bin/ruff check chain procedures protocol wallet pos tests scripts
	$(VENV)/bin/mypy

clean:
	rm -rf var test-artifacts .pytest_cache
