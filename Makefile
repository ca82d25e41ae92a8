# Two commands do everything: `make demo` and `make test`. Each bootstraps .venv on first use and
# re-installs only when pyproject.toml changes (the stamp file is older than it).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install demo test lint typecheck unit bench clean

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
	$(BIN)/mkdocs build --strict --quiet --site-dir $(VENV)/site

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
