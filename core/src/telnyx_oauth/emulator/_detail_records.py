"""`GET /v2/detail_records`: Telnyx's Detail Record Search API over a seeded, deterministic history.

Served record types (`filter[record_type]`), each with the time field Telnyx filters and sorts it by
(the SDK's `detail_records.list()` docstring: messaging records use `created_at`; call-control
records have no `created_at` and use `started_at`):

| record type    | `record_type` in the body     | id field | time field   |
| -------------- | ----------------------------- | -------- | ------------ |
| `messaging`    | `message_detail_record`       | `uuid`   | `created_at` |
| `call-control` | `call_control_detail_record`  | `id`     | `started_at` |

Query: `filter[record_type]` (required), `filter[<time field>][gte|gt|lt|lte]` (an ISO 8601 date or
date-time; naive means UTC), `page[number]` (from 1), `page[size]` (1-250, default 20) and `sort`
(`<time field>` or `-<time field>`; newest first when absent). Anything else is a 400 (10015).
The body is `{"data": [...], "meta": {"page_number", "page_size", "total_pages", "total_results"}}`.

The history lives in `_detail_record_store.py`.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from telnyx_oauth.emulator._detail_record_store import (
    MAX_PAGE_SIZE,
    TIME_FIELDS,
    DetailRecordStore,
    parse_instant,
)
from telnyx_oauth.emulator._http import telnyx_error

_OPS = ("gte", "gt", "lt", "lte")

Guard = Callable[[Callable[..., Awaitable[Response]]], Callable[[Request], Awaitable[Response]]]


class DetailRecordRoutes:
    """`GET /v2/detail_records`, behind the API's Bearer guard and counters."""

    def __init__(self, store: DetailRecordStore) -> None:
        self.store = store

    def routes(self, guard: Guard) -> list[BaseRoute]:
        """Return the route, wrapped in `guard` (the API routes' authentication and counting)."""
        return [Route("/v2/detail_records", guard(self.search), methods=["GET"])]

    async def search(self, request: Request, token: object) -> Response:
        """GET /v2/detail_records."""
        query = request.query_params
        record_type = query.get("filter[record_type]")
        if record_type is None:
            detail = "'filter[record_type]' is required."
            return telnyx_error(400, "10015", detail, {"parameter": "filter[record_type]"})
        if record_type not in TIME_FIELDS:
            detail = f"'filter[record_type]' must be one of: {', '.join(TIME_FIELDS)}."
            return telnyx_error(400, "10015", detail, {"parameter": "filter[record_type]"})
        field = TIME_FIELDS[record_type]
        bounds: dict[str, float] = {}
        page = {"page[number]": 1, "page[size]": 20}
        sort = f"-{field}"
        for name in query:
            value = query[name]
            match = re.fullmatch(r"filter\[(\w+)\]\[(\w+)\]", name)
            if name == "filter[record_type]":
                continue
            if match and match[1] == field and match[2] in _OPS:
                instant = parse_instant(value)
                if instant is None:
                    detail = f"'{name}' must be an ISO 8601 date or date-time, not '{value}'."
                    return telnyx_error(400, "10015", detail, {"parameter": name})
                bounds[match[2]] = instant
            elif name in page:
                number = int(value) if re.fullmatch(r"\d{1,9}", value) else 0
                maximum = MAX_PAGE_SIZE if name == "page[size]" else 10**9
                if not 1 <= number <= maximum:
                    detail = f"'{name}' must be an integer from 1 to {maximum}."
                    return telnyx_error(400, "10015", detail, {"parameter": name})
                page[name] = number
            elif name == "sort":
                sorts = [s for v in query.getlist("sort") for s in v.split(",") if s]
                if len(sorts) != 1 or sorts[0].lstrip("-") != field:
                    detail = f"'sort' must be '{field}' or '-{field}' for {record_type} records."
                    return telnyx_error(400, "10015", detail, {"parameter": "sort"})
                sort = sorts[0]
            else:
                detail = f"'{name}' is not a filter of {record_type} records."
                return telnyx_error(400, "10015", detail, {"parameter": name})
        if self.store.latency_seconds:
            await asyncio.sleep(self.store.latency_seconds)
        number, size = page["page[number]"], page["page[size]"]
        data, total = self.store.page(record_type, bounds, sort.startswith("-"), number, size)
        meta = {
            "page_number": number,
            "page_size": size,
            "total_pages": math.ceil(total / size),
            "total_results": total,
        }
        return JSONResponse({"data": data, "meta": meta})
