"""Keep a connection's token fresh on a schedule, so tasks never wait on the token endpoint.

The Airflow twin of `flows/keep_token_fresh.py`. Every run asks for the connection's token with a
leeway of `refresh_within_minutes`: if the token in the connection's Variable has more than that
left, the run changes nothing and sends no request; otherwise it gets a new one, under the refresh
lock, and saves it to the Variable for every task. `max_active_runs=1` keeps two runs from
refreshing at once. Choose `refresh_within_minutes` larger than the schedule's interval (15 minutes
against every 10 minutes), so at least one run falls inside the window before expiry.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import Param, dag, task

from airflow_provider_telnyx_oauth.hooks import TelnyxOAuthHook
from prefect_telnyx_oauth.models import utc_now

logger = logging.getLogger(__name__)


@task
def keep_token_fresh(conn_id: str, refresh_within_minutes: float | str) -> dict[str, Any]:
    """Refresh the connection's shared token when it expires within `refresh_within_minutes`.

    Returns:
        When the shared token expires (never the token itself: this is an XCom).
    """
    # A templated param arrives as text unless the DAG renders native objects.
    hook = TelnyxOAuthHook(conn_id, leeway_seconds=float(refresh_within_minutes) * 60)
    token = hook.get_token()
    left = token.seconds_left(utc_now()) / 60
    logger.info("The token of connection %r expires in %.0f min.", conn_id, left)
    return {"expires_at": token.expires_at.isoformat()}


@dag(
    dag_id="telnyx_oauth_keeper",
    schedule=timedelta(minutes=10),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    params={
        "conn_id": Param("telnyx_default", type="string"),
        "refresh_within_minutes": Param(15, type="number", exclusiveMinimum=0),
    },
    tags=["telnyx"],
)
def telnyx_oauth_keeper() -> None:
    keep_token_fresh("{{ params.conn_id }}", "{{ params.refresh_within_minutes }}")


telnyx_oauth_keeper()
