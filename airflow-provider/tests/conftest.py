"""Shared fixtures: a private AIRFLOW_HOME, the emulator on loopback, a connection pointing at it.

AIRFLOW_HOME is set before anything imports Airflow, so a test run never touches ~/airflow.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

_HOME = tempfile.mkdtemp(prefix="airflow-telnyx-tests-")
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
DAGS_FOLDER = os.path.join(os.path.dirname(__file__), "dags")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = DAGS_FOLDER
os.environ["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
# More DAG bundles: the docs page's examples (test_docs.py writes them there), the example DAGs.
EXAMPLE_DAGS = os.path.join(
    os.path.dirname(os.path.dirname(__file__)), "airflow_provider_telnyx_oauth", "example_dags"
)
DOCS_DAGS = os.path.join(_HOME, "docs_dags")
os.makedirs(DOCS_DAGS)
_LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
    [
        {"name": "dags-folder", "classpath": _LOCAL_BUNDLE, "kwargs": {"path": DAGS_FOLDER}},
        {"name": "docs-examples", "classpath": _LOCAL_BUNDLE, "kwargs": {"path": DOCS_DAGS}},
        {"name": "examples", "classpath": _LOCAL_BUNDLE, "kwargs": {"path": EXAMPLE_DAGS}},
    ]
)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME}/airflow.db"

from airflow_provider_telnyx_oauth.hooks import provider_cache  # noqa: E402
from telnyx_oauth.emulator import TelnyxEmulator  # noqa: E402


class FakeVariables:
    """Airflow Variables as a dict: what `VariableTokenStore` reads and writes, no database."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def set(self, key: str, value: str) -> None:
        self.values[key] = value


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    provider_cache.clear()
    provider_cache.unlocked_keys.clear()
    yield
    provider_cache.clear()


@pytest.fixture
def emulator() -> Iterator[TelnyxEmulator]:
    with TelnyxEmulator() as running:
        yield running


def connection_json(emulator: TelnyxEmulator, **changes: object) -> str:
    """An `AIRFLOW_CONN_*` value for a `telnyx_oauth` connection to the emulator."""
    conn: dict[str, object] = {
        "conn_type": "telnyx_oauth",
        "login": emulator.client_id,
        "password": emulator.client_secret,
        "host": emulator.base_url,
    }
    extra = changes.pop("extra", None)
    conn.update(changes)
    if extra is not None:
        conn["extra"] = json.dumps(extra)
    return json.dumps(conn)


@pytest.fixture
def telnyx_conn(emulator: TelnyxEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """The id of a connection to the emulator, defined through the environment."""
    monkeypatch.setenv("AIRFLOW_CONN_TELNYX_TEST", connection_json(emulator))
    return "telnyx_test"


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """A migrated SQLite metadata database in the private AIRFLOW_HOME (~5 s, once)."""
    import subprocess
    import sys

    airflow = os.path.join(os.path.dirname(sys.executable), "airflow")
    subprocess.run([airflow, "db", "migrate"], check=True, capture_output=True, timeout=240)
    return _HOME
