"""Fixtures of the scale tests: PostgreSQL clusters, Prefect API servers on them, and the switch.

In CI (`CI=true`) or with `TEST_POSTGRES=1` these tests run, and fail loudly when PostgreSQL
cannot be had; otherwise they skip, and the run ends with one line saying how to enable them.

`api_pair` is shared by the whole session. The fault tests stop servers and restart PostgreSQL,
so they get `isolated_pair`: their own cluster and servers, which nothing else uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.scale._postgres import HOW_TO_ENABLE, Postgres, find_bindir, required
from tests.integration.scale._servers import ApiServer, start_servers
from tests.integration.test_cross_process import free_port

_skipped = False

SERVER_SETTINGS = {
    # The scheduler looks for due deployments every 2 s instead of 60 s (worker tests).
    "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2",
}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped:
        terminalreporter.write_line(HOW_TO_ENABLE, yellow=True)


@contextmanager
def _cluster() -> Iterator[Postgres]:
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


@contextmanager
def _pair(
    cluster: Postgres, factory: pytest.TempPathFactory, name: str
) -> Iterator[list[ApiServer]]:
    homes = [factory.mktemp(f"{name}-api-{n}") for n in range(2)]
    servers = start_servers(homes, cluster.create_database(name), SERVER_SETTINGS)
    try:
        register_block_type(servers[0], factory.mktemp(f"{name}-register"))
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


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL cluster on 127.0.0.1 for the whole session, deleted afterwards."""
    with _cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def api_pair(
    postgres: Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ApiServer]]:
    """Two `prefect server start` on one fresh PostgreSQL database, block type registered."""
    with _pair(postgres, tmp_path_factory, "shared") as servers:
        yield servers


@pytest.fixture(scope="module")
def isolated_postgres() -> Iterator[Postgres]:
    """A cluster of the module's own, which its tests may stop and restart."""
    with _cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def isolated_pair(
    isolated_postgres: Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ApiServer]]:
    """Two servers on `isolated_postgres`, which the module's tests may stop and restart."""
    with _pair(isolated_postgres, tmp_path_factory, "isolated") as servers:
        yield servers
