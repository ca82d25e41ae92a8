"""Every Python example of docs/airflow.md runs, as written, against the emulator.

Each block is saved as a DAG file and parsed as Airflow parses DAG files; each DAG it defines is
run with `dag.test()`, with `telnyx_default` pointing at the emulator. (The Prefect suite's own
docs test leaves this page to this one: its venv has no Airflow.)
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from telnyx_oauth.emulator import TelnyxEmulator
from tests.conftest import DOCS_DAGS, connection_json

PAGE = Path(__file__).resolve().parents[2] / "docs" / "airflow.md"


def _python_blocks() -> list[str]:
    spec = importlib.util.spec_from_file_location(
        "docs_markdown", PAGE.parents[1] / "tests" / "docs" / "markdown.py"
    )
    assert spec is not None
    assert spec.loader is not None
    markdown = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = markdown  # its dataclasses look their module up
    spec.loader.exec_module(markdown)
    return [block.code for block in markdown.code_blocks(PAGE) if block.language == "python"]


BLOCKS = _python_blocks()


def test_airflow_page_has_examples() -> None:
    assert BLOCKS


@pytest.mark.parametrize("code", BLOCKS, ids=[f"airflow-{i}" for i in range(len(BLOCKS))])
def test_airflow_docs_example_runs_as_written(
    code: str,
    airflow_db: str,
    emulator: TelnyxEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.state import DagRunState

    monkeypatch.setenv("AIRFLOW_CONN_TELNYX_DEFAULT", connection_json(emulator))
    # dag.test() runs DAGs of a DAG bundle: the examples get their own (see conftest.py).
    folder = Path(DOCS_DAGS)
    for old in folder.glob("*.py"):
        old.unlink()
    (folder / "example.py").write_text(code, encoding="utf-8")
    bag = DagBag(str(folder))

    assert not bag.import_errors
    for dag in bag.dags.values():
        assert dag.test().state == DagRunState.SUCCESS
    assert emulator.counters.token_requests <= 1
    assert emulator.counters.api_requests > 0
    assert all(int(status) < 400 for status in emulator.counters.api_requests_by_status)
