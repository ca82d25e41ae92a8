"""Prefect tasks for Telnyx numbers: list the account's phone numbers, look up any number."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

from prefect import task
from prefect.cache_policies import NONE

from prefect_telnyx_oauth._api import DEFAULT_TIMEOUT_SECONDS, call_telnyx, run_logger
from prefect_telnyx_oauth.credentials import TelnyxOAuthCredentials
from prefect_telnyx_oauth.tasks import _load
from telnyx_oauth.errors import ConfigurationError

MAX_PAGE_SIZE = 250
"""The largest `page[size]` Telnyx accepts."""


def _filter_params(filters: Mapping[str, Any] | None) -> dict[str, Any]:
    # Accept {"status": "active"} as well as {"filter[status]": "active"}.
    return {
        name if name.startswith("filter[") else f"filter[{name}]": value
        for name, value in (filters or {}).items()
    }


def _total_pages(body: Mapping[str, Any]) -> int:
    meta = body.get("meta")
    total = meta.get("total_pages") if isinstance(meta, Mapping) else None
    return total if isinstance(total, int) else 1


@task(name="list_phone_numbers", cache_policy=NONE)
def list_phone_numbers(
    credentials: TelnyxOAuthCredentials | str,
    *,
    filters: Mapping[str, Any] | None = None,
    page_size: int = MAX_PAGE_SIZE,
    max_pages: int | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Return the account's phone numbers (`GET /phone_numbers`), following every page.

    Pages are requested one after another until `meta.total_pages`, `max_pages` or `limit` is
    reached, over one connection. To pick one number, pass `limit=1`: one request of one number.

    Args:
        credentials: The block, or the name of a saved block (loaded inside the task).
        filters: Telnyx filters, e.g. `{"status": "active"}` or `{"filter[tag]": "sms"}`.
        page_size: Numbers per page, 1 to 250; larger pages mean fewer requests. A smaller
            `limit` makes the pages that small.
        max_pages: Stop after this many pages; None follows them all.
        limit: Return at most this many numbers, and request no page after the one that holds
            the last of them; None returns them all.

    Returns:
        The phone number records, in Telnyx's order.

    Raises:
        ConfigurationError: `page_size`, `max_pages` or `limit` is out of range.
        TelnyxAPIError: Telnyx refused a page, e.g. 400 for an unknown filter value.
    """
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        msg = f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}."
        raise ConfigurationError(msg)
    if max_pages is not None and max_pages < 1:
        msg = f"max_pages must be at least 1 (or None for all pages), got {max_pages}."
        raise ConfigurationError(msg)
    if limit is not None and limit < 1:
        msg = f"limit must be at least 1 (or None for every number), got {limit}."
        raise ConfigurationError(msg)
    block = _load(credentials)
    params = _filter_params(filters)
    if limit is not None:
        page_size = min(page_size, limit)
    records: list[dict[str, Any]] = []
    page = 1
    with block.get_client(timeout=DEFAULT_TIMEOUT_SECONDS) as client:
        while True:
            query = {**params, "page[number]": page, "page[size]": page_size}
            body = call_telnyx(block, "GET", "/phone_numbers", params=query, client=client)
            data = body.get("data") or []
            records.extend(data)
            total = _total_pages(body)
            if (
                not data
                or page >= total
                or (max_pages is not None and page >= max_pages)
                or (limit is not None and len(records) >= limit)
            ):
                break
            page += 1
    if limit is not None:
        del records[limit:]
    run_logger().info("Listed %d phone numbers (%d of %d pages).", len(records), page, total)
    return records


@task(name="lookup_number", cache_policy=NONE)
def lookup_number(
    credentials: TelnyxOAuthCredentials | str,
    phone_number: str,
    *,
    lookup_type: Literal["carrier", "caller-name"] | None = "carrier",
) -> dict[str, Any]:
    """Look up a phone number's carrier or caller name (`GET /number_lookup/{number}`).

    Args:
        credentials: The block, or the name of a saved block (loaded inside the task).
        phone_number: The number in E.164 format, e.g. "+15551234567".
        lookup_type: "carrier", "caller-name", or None for Telnyx's basic lookup.

    Returns:
        The lookup record: `country_code`, `national_format`, `carrier`, `portability`, ...

    Raises:
        TelnyxAPIError: 422 (code "10016") when the number is not in E.164 format.
    """
    path = f"/number_lookup/{quote(phone_number, safe='+')}"
    params = {"type": lookup_type} if lookup_type else None
    body = call_telnyx(_load(credentials), "GET", path, params=params)
    data: dict[str, Any] = body.get("data") or {}
    return data
