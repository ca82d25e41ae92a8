"""Fixtures of the scale tests: a PostgreSQL cluster, Prefect API servers on it, and the switch.

In CI (`CI=true`) or with `TEST_POSTGRES=1` these tests run, and fail loudly when PostgreSQL
cannot be had; otherwise they skip, and the run ends with one line saying how to enable them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.scale._postgres import HOW_TO_ENABLE, Postgres, find_bindir, required
from tests.integration.scale._servers import ApiServer, start_servers
from tests.integration.test_cross_process import free_port

_skipped = False
_databases = itertools.count()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped:
        terminalreporter.write_line(HOW_TO_ENABLE, yellow=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL cluster on 127.0.0.1 for the whole session, deleted afterwards."""
    global _skipped
    if not required():
        _skipped = True
        pytest.skip(HOW_TO_ENABLE)
    bindir = find_bindir()
    if bindir is None:
        pytest.fail(
            "PostgreSQL is required here (CI=true or TEST_POSTGRES=1) but no pg_ctl was found "
            "under /usr/lib/postgresql/*/bin or on PATH: apt-get install -y postgresql",
            pytrace=False,
        )
    cluster = Postgres(bindir, free_port())
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture(scope="session")
def new_database(postgres: Postgres) -> Callable[[], str]:
    """Create an empty database on the cluster and return its URL (one per server group)."""
    return lambda: postgres.create_database(f"prefect_{next(_databases)}")


@pytest.fixture(scope="module")
def api_pair(
    new_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ApiServer]]:
    """Two `prefect server start` on one fresh PostgreSQL database, block type registered."""
    homes = [tmp_path_factory.mktemp(f"api-{n}") for n in range(2)]
    servers = start_servers(homes, new_database())
    try:
        register_block_type(servers[0], tmp_path_factory.mktemp("register"))
        yield servers
    finally:
        for server in servers:
            server.stop()


def register_block_type(server: ApiServer, home: Path) -> None:
    """Register the block type once, before any concurrent use (concurrent registration fails)."""
    server.run(
        "from prefect_telnyx_oauth import TelnyxOAuthCredentials as B;"
        "B.register_type_and_schema(_sync=True)",
        home,
    )
