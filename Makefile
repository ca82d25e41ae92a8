# Two commands do everything: `make demo` and `make test`. Each bootstraps .venv on first use and
# re-installs only when pyproject.toml changes (the stamp file is older than it).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install demo test lint typecheck unit bench clean ui-check docs

$(STAMP): pyproject.toml
	@echo "Installing prefect-telnyx-oauth and its dev tools into $(VENV) (about a minute)..."
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
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

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

test: lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider
	$(MAKE) --no-print-directory docs

# The docs site, built strictly, then checked to load nothing remote (no CDN, no web font).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir $(VENV)/site
	$(BIN)/python tests/docs/site_offline.py $(VENV)/site

# The block form and the docs site in headless Chromium (Debian's `chromium`); rewrites the
# screenshot docs/img/block-form.png that the Blocks page shows.
ui-check: docs
	$(BIN)/python tests/ui/ui_check.py --screenshot docs/img/block-form.png --site $(VENV)/site

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
