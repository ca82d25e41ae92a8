"""The DAG of `test_multiprocess.py`: four task processes that each try to leak the token.

Each prints the raw access token and logs it, as careless user code might. The provider masks
every token it obtains or reads, so the task log files must show `***` instead.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from airflow.sdk import dag, task

from airflow_provider_telnyx_oauth.hooks import TelnyxOAuthHook

CONN_ID = "telnyx_test"


@dag(schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), catchup=False)
def telnyx_leaky() -> None:
    @task
    def leak(index: int) -> int:
        hook = TelnyxOAuthHook(CONN_ID)
        with hook.get_conn() as client:
            status = client.get("/balance").status_code
        raw = hook.get_token().access_token.get_secret_value()
        print(f"leaked by print: {raw}")
        logging.getLogger(__name__).warning("leaked by logging: Bearer %s", raw)
        return status

    leak.expand(index=list(range(4)))


telnyx_leaky()
