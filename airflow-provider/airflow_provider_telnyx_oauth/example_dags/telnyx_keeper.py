"""Keep a connection's token fresh on a schedule, so tasks never wait on the token endpoint.

The Airflow twin of `flows/keep_token_fresh.py`. Every run reads the connection's shared token
(from its Variable; a new one only if there is none): if it has more than `refresh_within_minutes`
left, the run changes nothing and sends no request; otherwise it gets a new one, under the
refresh lock, and saves it to the Variable for every task. `max_active_runs=1` keeps two runs from
refreshing at once. Choose `refresh_within_minutes` larger than the schedule's interval (15 minutes
against every 10 minutes), so at least one run falls inside the window before expiry.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import Param, dag, task

from airflow_provider_telnyx_oauth.hooks import TelnyxOAuthHook
from telnyx_oauth.models import utc_now

logger = logging.getLogger(__name__)


@task
def keep_token_fresh(conn_id: str, refresh_within_minutes: float | str) -> dict[str, Any]:
    """Refresh the connection's shared token when it expires within `refresh_within_minutes`.

    Returns:
        Whether a new token was received, and when the shared token expires (never the token
        itself: this is an XCom).
    """
    # A templated param arrives as text unless the DAG renders native objects.
    within = timedelta(minutes=float(refresh_within_minutes))
    hook = TelnyxOAuthHook(conn_id)
    started = utc_now()
    token = hook.get_token()  # the shared one from the Variable, or a new one if there is none
    # A token received during this run is as new as a refresh would make it.
    new = token.issued_at is not None and token.issued_at >= started
    due = not new and token.expires_at - utc_now() <= within
    if due:
        token = hook.get_token(force_refresh=True)
    left = token.seconds_left(utc_now()) / 60
    logger.info(
        "%s token for connection %r; it expires in %.0f min.",
        "Got a new" if due or new else "Kept",
        conn_id,
        left,
    )
    return {"refreshed": due or new, "expires_at": token.expires_at.isoformat()}


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
