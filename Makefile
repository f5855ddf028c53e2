# HealthGuard Ops: `make run` serves the app, `make test` runs every test.
# Only Python 3.11+ and make are needed; everything else installs into .venv.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check
# constraints.txt pins every dependency to the versions last tested (reproducible installs).
INSTALL_INPUTS := pyproject.toml constraints.txt
CORE_PACKAGES  := healthguard/models healthguard/incidents healthguard/realtime healthguard/wards \
                  healthguard/runtime healthguard/api healthguard/security healthguard/patients \
                  healthguard/clinical healthguard/alarms healthguard/ingest healthguard/integrations \
                  healthguard/oncall healthguard/notify \
                  healthguard/settings.py healthguard/db.py \
                  healthguard/migrations.py healthguard/seed.py workers

.PHONY: run test lint format install install-dev chromium alertmanager clean help

help:
	@echo "make run    install and start HealthGuard Ops on http://localhost:3000 (demo data)"
	@echo "make test   install with dev tools and run unit, integration and e2e tests"
	@echo "make lint   ruff and mypy"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
	  { echo "HealthGuard Ops needs Python 3.11 or newer; '$(PYTHON)' is $$($(PYTHON) --version 2>&1). Run: make PYTHON=python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: $(INSTALL_INPUTS) | $(BIN)/python
	$(PIP) install --quiet -c constraints.txt -e .
	@touch $@

$(VENV)/.installed-dev: $(INSTALL_INPUTS) | $(BIN)/python
	$(PIP) install --quiet -c constraints.txt -e ".[dev]"
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	HEALTHGUARD_MODE=$${HEALTHGUARD_MODE:-demo} $(BIN)/healthguard up

chromium: install-dev
	@$(BIN)/python tests/e2e/e2e_support.py || $(BIN)/playwright install chromium

# The real-Alertmanager integration test needs the Debian package (.ci/run installs it).
alertmanager:
	@command -v prometheus-alertmanager >/dev/null 2>&1 || [ -x /usr/bin/prometheus-alertmanager ] || \
	  { echo "The integration tests need Prometheus Alertmanager: sudo apt-get install -y --no-install-recommends prometheus-alertmanager"; exit 1; }

test: install-dev chromium alertmanager
	$(BIN)/pytest --cov --cov-report=term:skip-covered --cov-report=xml:test-artifacts/coverage.xml

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(CORE_PACKAGES)

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf .web .states test-artifacts .pytest_cache .mypy_cache .ruff_cache .coverage
