"""Every Python example of the docs runs, as written, against the emulator and a real Prefect API.

Each ```python block of docs/*.md is taken from the page (a snippet include, `--8<-- "flows/..."`,
is replaced by the file the page shows) and run as a script (`__name__ == "__main__"`) in an
environment like a user's: a block named `prod-telnyx` saved on the session's Prefect API and
pointing at a fresh emulator, and `TELNYX_CLIENT_ID`/`TELNYX_CLIENT_SECRET`/`TELNYX_BASE_URL` set
to the emulator's. Nothing leaves loopback: an example reaching the real Telnyx would fail.
"""

from __future__ import annotations

import asyncio
import os
import runpy
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

from flows.async_pipeline import async_pipeline
from prefect_telnyx_oauth import TelnyxOAuthCredentials
from telnyx_oauth.emulator import TelnyxEmulator
from tests.docs.markdown import DOCS, CodeBlock, code_blocks
from tests.integration.helpers import make_block
from tests.secret_scan import secret_scan_fixture  # noqa: F401

EXAMPLES = [block for page in sorted(DOCS.rglob("*.md")) for block in code_blocks(page)]
# docs/airflow.md shows Airflow code: airflow-provider/tests/test_docs.py runs it in .venv-airflow.
OTHER_VENV = {"airflow"}
PYTHON = [
    block for block in EXAMPLES if block.language == "python" and block.page.stem not in OTHER_VENV
]
# Pages whose examples show an error on purpose: the emulator answers them with a 4xx.
SHOWS_ERRORS = {"errors"}
# Pages a reader learns to write code from: each must keep at least one runnable example.
MUST_HAVE_EXAMPLES = {"quickstart", "configuration", "blocks", "token-lifecycle", "api-tasks"}


@pytest.fixture
def docs_world(
    prefect_api: None,
    emulator: TelnyxEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[TelnyxEmulator]:
    """A user's setup, pointed at the emulator; the process environment is restored after."""
    saved_environ = dict(os.environ)
    monkeypatch.setenv("TELNYX_CLIENT_ID", emulator.client_id)
    monkeypatch.setenv("TELNYX_CLIENT_SECRET", emulator.client_secret)
    monkeypatch.setenv("TELNYX_BASE_URL", emulator.base_url)
    # offline_prefect() steps aside for an API chosen in the environment: the session's.
    monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))
    monkeypatch.setattr(sys, "argv", ["example.py"])
    monkeypatch.chdir(tmp_path)
    make_block(emulator).save("prod-telnyx", overwrite=True)
    yield emulator
    os.environ.clear()  # examples may set TELNYX_* variables themselves
    os.environ.update(saved_environ)


def run_example(code: str, directory: Path) -> None:
    script = directory / "example.py"
    script.write_text(code, encoding="utf-8")
    runpy.run_path(str(script), run_name="__main__")


@pytest.mark.usefixtures("secret_scan")
@pytest.mark.parametrize("example", PYTHON, ids=[block.id for block in PYTHON])
def test_docs_example_runs_as_written(
    example: CodeBlock, docs_world: TelnyxEmulator, tmp_path: Path
) -> None:
    run_example(example.code, tmp_path)
    statuses = {
        **docs_world.counters.token_requests_by_status,
        **docs_world.counters.api_requests_by_status,
    }
    if example.page.stem not in SHOWS_ERRORS:
        assert all(status < 400 for status in statuses), statuses


def test_docs_pages_keep_their_examples() -> None:
    pages = {block.page.stem for block in PYTHON}
    assert pages >= MUST_HAVE_EXAMPLES
    # Python under another fence name would escape the run above.
    assert not {block.language for block in EXAMPLES} & {"py", "py3", "python3", "pycon"}


def test_docs_async_example_shares_one_token_across_every_async_path(
    docs_world: TelnyxEmulator,
) -> None:
    # load (awaited), aget_token, get_async_client and the token task: one token request.
    result = asyncio.run(async_pipeline("prod-telnyx"))
    assert result == {"balance": "100.00", "shared": True}
    assert docs_world.counters.token_requests == 1
    assert docs_world.counters.api_requests == 1


def test_docs_block_card_code_example_runs(docs_world: TelnyxEmulator, tmp_path: Path) -> None:
    example = TelnyxOAuthCredentials.get_code_example()
    assert example is not None
    code = example.split("```python", 1)[1].split("```", 1)[0]
    run_example(code.replace("BLOCK_NAME", "prod-telnyx"), tmp_path)
    assert docs_world.counters.api_requests_by_status == {200: 1}


def test_docs_notify_example_lists_one_page_to_pick_its_sender(
    docs_world: TelnyxEmulator, tmp_path: Path
) -> None:
    # Issue 17: the example picked one sender by walking all 25 pages of the emulator's numbers
    # (2,000 requests on an account with 2,000 numbers). Now: balance, one page, two messages.
    (notify,) = [block for block in PYTHON if "def notify(" in block.code]
    run_example(notify.code, tmp_path)
    assert docs_world.counters.messages_created == 2
    assert docs_world.counters.api_requests_by_status == {200: 4}
