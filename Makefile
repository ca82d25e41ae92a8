# Two commands do everything: `make demo` and `make test`. Each bootstraps .venv on first use and
# re-installs only when pyproject.toml changes (the stamp file is older than it).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install demo test lint typecheck unit bench clean ui-check docs

$(STAMP): pyproject.toml core/pyproject.toml
	@echo "Installing prefect-telnyx-oauth and its dev tools into $(VENV) (about a minute)..."
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e './core[emulator]' -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	@echo "Running flows/quickstart.py (loading Prefect takes a few seconds)..."
	@$(BIN)/python flows/quickstart.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy prefect_telnyx_oauth
	cd core/src && ../../$(BIN)/mypy --config-file ../../pyproject.toml telnyx_oauth

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

test: lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider
	$(MAKE) --no-print-directory docs
	$(MAKE) --no-print-directory test-airflow
	$(MAKE) --no-print-directory typecheck-airflow

# The docs site, built strictly, then checked to load nothing remote (no CDN, no web font).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir $(VENV)/site
	$(BIN)/python tests/docs/site_offline.py $(VENV)/site

# Read the docs locally: served at http://127.0.0.1:8000, rebuilt as a page changes (Ctrl-C
# stops it). Or open .venv/site/index.html after `make docs`: it reads from its files, search too.
.PHONY: docs-serve
docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

# The block form, the docs site and the export's artifacts in headless Chromium (Debian's
# `chromium`); rewrites the screenshots that the Blocks and Export pages show.
ui-check: docs
	$(BIN)/python tests/ui/ui_check.py --screenshot docs/img/block-form.png --site $(VENV)/site
	$(BIN)/python tests/ui/export_artifacts.py --screenshot docs/img/export-artifacts.png \
		--table-screenshot docs/img/export-artifact-table.png

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
	rm -rf $(AIRFLOW_VENV)

# The Airflow provider lives in its own venv: prefect 3.9 and apache-airflow 3.3 cannot share one
# (their fastapi pins conflict). Built on first use (30-80 s, ~300 MB); a failed install fails
# `make test` (never skipped). The core is installed with --no-deps so Prefect never comes in, and
# the stamp checks that the core modules import without it.
.PHONY: install-airflow test-airflow typecheck-airflow demo-airflow
AIRFLOW_VENV := .venv-airflow
AIRFLOW_BIN := $(AIRFLOW_VENV)/bin
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed-stamp

$(AIRFLOW_STAMP): core/pyproject.toml airflow-provider/pyproject.toml
	@echo "Installing Airflow 3.3 and the Telnyx provider into $(AIRFLOW_VENV) (30-80 s)..."
	test -x $(AIRFLOW_BIN)/python || $(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_BIN)/python -m pip install --quiet --disable-pip-version-check 'apache-airflow==3.3.*' \
		'httpx>=0.27,<1' 'pydantic-settings>=2.2,<3' 'pytest>=8' 'pytest-timeout>=2.3'
	$(AIRFLOW_BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e ./core -e airflow-provider
	$(AIRFLOW_BIN)/python -c "import sys, airflow_provider_telnyx_oauth.api, telnyx_oauth.emulator; \
		assert 'prefect' not in sys.modules, 'the core loaded Prefect'"
	touch $(AIRFLOW_STAMP)

install-airflow: $(AIRFLOW_STAMP)

test-airflow: $(AIRFLOW_STAMP)
	cd airflow-provider && ../$(AIRFLOW_BIN)/pytest -q -p no:cacheprovider

# mypy --strict on the provider (airflow-provider/pyproject.toml), against the Airflow venv's
# packages (Airflow ships its types): the main venv's mypy, so nothing more is installed.
typecheck-airflow: $(STAMP) $(AIRFLOW_STAMP)
	cd airflow-provider && ../$(BIN)/mypy --python-executable ../$(AIRFLOW_BIN)/python \
		airflow_provider_telnyx_oauth

demo-airflow: $(AIRFLOW_STAMP)
	@$(AIRFLOW_BIN)/python airflow-provider/demo.py

# The wheels and sdists of the three distributions, into dist/ (or DIST=...), for a worker image:
# `pip install --find-links dist prefect-telnyx-oauth` (docs/quickstart.md).
DIST ?= dist
.PHONY: dist
dist:
	bash .ci/dist_build.sh $(DIST)

# Issue 13: `make dist`, then every documented `pip install` line and the wheels in clean venvs
# (a few minutes, most of it installing Prefect).
.PHONY: dist-check
dist-check:
	bash .ci/dist_check.sh
