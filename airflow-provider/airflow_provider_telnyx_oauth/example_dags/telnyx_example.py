"""The Telnyx API from TaskFlow: 8 mapped messages, the balance, the numbers, a lookup.

Every task asks the same connection for a token; the first gets it from Telnyx and saves it to
the connection's Variable, and every other task, in whatever process, reuses it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from airflow.sdk import dag, task

from airflow_provider_telnyx_oauth import api

CONN_ID = "telnyx_default"
RECIPIENTS = [f"+1555010{index:04d}" for index in range(8)]


@dag(
    dag_id="telnyx_example",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["telnyx"],
)
def telnyx_example() -> None:
    @task
    def send(to: str) -> str:
        message = api.send_message(CONN_ID, to, "Nightly build passed", from_="+15557654321")
        return str(message["id"])

    @task
    def balance() -> str:
        data = api.get_balance(CONN_ID)
        return f"{data['balance']} {data['currency']}"

    @task
    def numbers() -> int:
        return len(api.list_phone_numbers(CONN_ID, page_size=10))

    @task
    def lookup() -> dict[str, Any]:
        carrier = api.lookup_number(CONN_ID, "+15551234567").get("carrier") or {}
        return {"carrier": carrier.get("name")}

    send.expand(to=RECIPIENTS)
    balance()
    numbers()
    lookup()


telnyx_example()
