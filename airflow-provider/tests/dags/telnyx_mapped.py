"""The DAG of `test_dag.py` (dag.test() serializes DAGs from the dags folder, so it lives here).

Each task opens a new `AirflowTokenCache`, holding nothing, as a new task process would: only the
connection's Variable (written and read through the Task SDK's supervisor) and the file lock can
keep the other seven from requesting their own token.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import dag, task

from airflow_provider_telnyx_oauth.hooks import AirflowTokenCache, TelnyxOAuthHook

CONN_ID = "telnyx_test"


@dag(schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), catchup=False)
def telnyx_mapped() -> None:
    @task
    def balance(index: int) -> str:
        cache = AirflowTokenCache()  # what a new task process starts with: nothing
        try:
            with TelnyxOAuthHook(CONN_ID, cache=cache).get_conn() as client:
                response = client.get("/balance")
                response.raise_for_status()
                return str(response.json()["data"]["balance"])
        finally:
            cache.close()

    balance.expand(index=list(range(8)))


telnyx_mapped()
