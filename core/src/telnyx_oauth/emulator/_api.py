"""Telnyx API routes, Bearer-protected: balance, messages, phone numbers, number lookup.

Errors use Telnyx's shape, `{"errors": [{"code", "title", "detail", "meta", "source"?}]}`, with
codes from Telnyx's error reference:

| HTTP | code  | title                                 | when                                      |
| ---- | ----- | ------------------------------------- | ----------------------------------------- |
| 401  | 10009 | Authentication failed                 | Bearer token missing, unknown, expired,   |
|      |       |                                       | revoked                                   |
| 400  | 10015 | Bad Request                           | body not a JSON object, bad query         |
|      |       |                                       | parameter, malformed Idempotency-Key      |
| 404  | 10005 | Resource not found                    | unknown message id or path                |
| 422  | 10004 | Missing required parameter            | message without `to`, `from`/profile,     |
|      |       |                                       | `text`/`media_urls`                       |
| 422  | 10015 | Bad Request                           | field of the wrong type; Idempotency-Key  |
|      |       |                                       | reused with a different request           |
| 422  | 40305 | Invalid 'from' address                | `from` not E.164                          |
| 422  | 40310 | Invalid 'to' address                  | `to` not E.164                            |
| 422  | 10016 | Phone number must be in +E.164 format | number lookup of a non-E.164 number       |

Message validation reports every problem at once, each with a `source.pointer`. Idempotency
follows Telnyx: a key (`^[A-Za-z0-9_:-]{1,255}$`) is scoped to the organization (the whole
emulator), the method and the path; the same query string and byte-identical body replay the first
successful answer (same id, not counted again); anything else with that key is a 422.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from telnyx_oauth.emulator._http import telnyx_error, telnyx_error_item, telnyx_errors
from telnyx_oauth.emulator._state import EmulatorState, IdempotencyConflict, TokenInfo

E164_RE = re.compile(r"^\+[1-9]\d{1,14}$")
_IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9_:-]{1,255}$")
# The GSM 03.38 basic character set: text made only of these is sent as GSM-7, otherwise UCS-2.
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_COUNTRIES = {"1": "US", "44": "GB", "49": "DE", "33": "FR", "61": "AU", "91": "IN", "55": "BR"}
_CARRIERS = (
    ("T-MOBILE USA, INC.", "T-Mobile", "310", "260", "mobile"),
    ("CELLCO PARTNERSHIP DBA VERIZON WIRELESS", "Verizon Wireless", "311", "480", "mobile"),
    ("TELNYX LLC", "Telnyx", "", "", "voip"),
    ("AT&T MOBILITY", "AT&T", "310", "410", "mobile"),
)
_LOOKUP_TYPES = ("carrier", "caller-name", "caller-identity", "enhanced-caller-name")
_WWW_AUTHENTICATE = 'Bearer realm="telnyx", error="invalid_token"'

Handler = Callable[[Request, TokenInfo], Awaitable[Response]]


def _timestamp(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat(timespec="milliseconds")


def phone_number_record(index: int) -> dict[str, Any]:
    """Return the deterministic phone number at `index` (+1555010xxxx; every 10th is pending)."""
    created = _timestamp(1_700_000_000 + index * 3600)
    return {
        "id": str(1_293_384_261_075_731_400 + index),
        "record_type": "phone_number",
        "phone_number": f"+1555{100_000 + index:07d}",
        "status": "purchase-pending" if index % 10 == 9 else "active",
        "tags": [],
        "connection_id": "1293384261075731499",
        "connection_name": "emulator-connection",
        "messaging_profile_id": "4001767e-ce0f-4cae-9d5f-0d5e636e7809",
        "billing_group_id": None,
        "customer_reference": None,
        "emergency_enabled": False,
        "call_forwarding_enabled": True,
        "cnam_listing_enabled": False,
        "caller_id_name_enabled": False,
        "t38_fax_gateway_enabled": False,
        "phone_number_type": "local",
        "country_iso_alpha2": "US",
        "purchased_at": created,
        "created_at": created,
        "updated_at": created,
    }


def _sms_shape(text: str) -> tuple[str, int]:
    if all(ch in _GSM7 for ch in text):
        encoding, single, multi = "GSM-7", 160, 153
    else:
        encoding, single, multi = "UCS-2", 70, 67
    parts = 1 if len(text) <= single else math.ceil(len(text) / multi)
    return encoding, parts


def _validate_message(payload: dict[str, Any]) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    to = payload.get("to")
    if isinstance(to, list) and len(to) == 1:
        to = to[0]
    if to in (None, "", []):
        errors.append(telnyx_error_item("10004", "'to' is required.", {"pointer": "/to"}))
    elif not isinstance(to, str) or not E164_RE.fullmatch(to):
        detail = "The 'to' address must be a single phone number in +E.164 format."
        errors.append(telnyx_error_item("40310", detail, {"pointer": "/to"}))
    sender, profile = payload.get("from"), payload.get("messaging_profile_id")
    if sender in (None, "") and profile in (None, ""):
        detail = "Either 'from' or 'messaging_profile_id' is required."
        errors.append(telnyx_error_item("10004", detail, {"pointer": "/from"}))
    elif sender not in (None, "") and (
        not isinstance(sender, str) or not E164_RE.fullmatch(sender)
    ):
        detail = "The 'from' address must be a phone number in +E.164 format."
        errors.append(telnyx_error_item("40305", detail, {"pointer": "/from"}))
    if profile is not None and not isinstance(profile, str):
        detail = "'messaging_profile_id' must be a string."
        errors.append(telnyx_error_item("10015", detail, {"pointer": "/messaging_profile_id"}))
    text, media = payload.get("text"), payload.get("media_urls")
    if media is not None and (
        not isinstance(media, list) or not all(isinstance(u, str) and u for u in media)
    ):
        detail = "'media_urls' must be a list of URLs."
        errors.append(telnyx_error_item("10015", detail, {"pointer": "/media_urls"}))
    elif text is not None and not isinstance(text, str):
        errors.append(telnyx_error_item("10015", "'text' must be a string.", {"pointer": "/text"}))
    elif not text and not media:
        detail = "A non-empty 'text' (or 'media_urls' for MMS) is required."
        errors.append(telnyx_error_item("10004", detail, {"pointer": "/text"}))
    if payload.get("type") not in (None, "SMS", "MMS"):
        detail = "'type' must be 'SMS' or 'MMS'."
        errors.append(telnyx_error_item("10015", detail, {"pointer": "/type"}))
    return errors


class ApiRoutes:
    """The Telnyx API endpoints of one emulator."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[BaseRoute]:
        """Return the Starlette routes, each behind the Bearer guard and the API counters."""
        return [
            Route("/v2/balance", self._guard(self.balance), methods=["GET"]),
            Route("/v2/messages", self._guard(self.send_message), methods=["POST"]),
            Route("/v2/messages/{message_id}", self._guard(self.get_message), methods=["GET"]),
            Route("/v2/phone_numbers", self._guard(self.list_phone_numbers), methods=["GET"]),
            Route(
                "/v2/number_lookup/{phone_number}", self._guard(self.lookup_number), methods=["GET"]
            ),
        ]

    def _guard(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            failure = self.state.take_api_failure()
            response = (
                _injected_failure(*failure) if failure is not None else self._authenticate(request)
            )
            if isinstance(response, TokenInfo):
                response = await handler(request, response)
            self.state.counters._api_request_answered(response.status_code)
            return response

        endpoint.__name__ = handler.__name__
        return endpoint

    def _authenticate(self, request: Request) -> TokenInfo | Response:
        scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            detail = "Send the access token as 'Authorization: Bearer <token>'."
        else:
            info, reason = self.state.lookup_token(token)
            if info is not None:
                return info
            detail = {
                "expired": "The access token has expired. Request a new one.",
                "revoked": "The access token has been revoked. Request a new one.",
            }.get(reason, "The access token is not valid.")
        headers = {"WWW-Authenticate": _WWW_AUTHENTICATE}
        return telnyx_error(401, "10009", detail, headers=headers)

    async def balance(self, request: Request, token: TokenInfo) -> Response:
        """GET /v2/balance."""
        balance = Decimal(self.state.balance)
        credit_limit = Decimal("0.00")
        data = {
            "record_type": "balance",
            "balance": f"{balance:.2f}",
            "credit_limit": f"{credit_limit:.2f}",
            "available_credit": f"{balance + credit_limit:.2f}",
            "currency": "USD",
            "pending": "0.00",
        }
        return JSONResponse({"data": data})

    async def send_message(self, request: Request, token: TokenInfo) -> Response:
        """POST /v2/messages, honouring `Idempotency-Key`."""
        key = request.headers.get("idempotency-key")
        if key is not None and not _IDEMPOTENCY_KEY_RE.fullmatch(key):
            detail = "Idempotency-Key must match ^[A-Za-z0-9_:-]{1,255}$."
            return telnyx_error(400, "10015", detail, {"header": "Idempotency-Key"})
        raw = await request.body()
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return telnyx_error(400, "10015", "The request body must be a JSON object.")
        errors = _validate_message(payload)
        if errors:
            return telnyx_errors(422, errors)
        message = self._build_message(payload)
        fingerprint = hashlib.sha256(request.url.query.encode() + b"\n" + raw).hexdigest()
        scope = None if key is None else ("POST", request.url.path, key)
        try:
            stored, _ = self.state.create_message(
                message, idempotency=scope, fingerprint=fingerprint
            )
        except IdempotencyConflict:
            detail = (
                "This Idempotency-Key was already used with a different request. Use a new key "
                "for a new request."
            )
            return telnyx_error(422, "10015", detail, {"header": "Idempotency-Key"})
        return JSONResponse({"data": stored})

    def _build_message(self, payload: dict[str, Any]) -> dict[str, Any]:
        now = self.state.now()
        to = payload["to"][0] if isinstance(payload["to"], list) else payload["to"]
        sender = payload.get("from") or (
            phone_number_record(0)["phone_number"] if self.state.phone_numbers else None
        )
        text = payload.get("text") or ""
        media = payload.get("media_urls") or []
        encoding, parts = _sms_shape(text)
        return {
            "record_type": "message",
            "direction": "outbound",
            "id": str(uuid.uuid4()),
            "type": payload.get("type") or ("MMS" if media else "SMS"),
            "messaging_profile_id": payload.get("messaging_profile_id")
            or "4001767e-ce0f-4cae-9d5f-0d5e636e7809",
            "organization_id": self.state.organization_id,
            "from": {"phone_number": sender, "carrier": "TELNYX LLC", "line_type": "VoIP"},
            "to": [
                {
                    "phone_number": to,
                    "status": "queued",
                    "carrier": _CARRIERS[_pick(to)][0],
                    "line_type": "Wireless",
                }
            ],
            "cc": [],
            "text": text,
            "subject": payload.get("subject"),
            "media": [
                {"url": url, "content_type": None, "sha256": None, "size": None} for url in media
            ],
            "webhook_url": payload.get("webhook_url"),
            "webhook_failover_url": payload.get("webhook_failover_url"),
            "encoding": encoding,
            "parts": 1 if media else parts,
            "tags": [],
            "cost": None,
            "cost_breakdown": None,
            "tcr_campaign_id": None,
            "tcr_campaign_billable": False,
            "tcr_campaign_registered": None,
            "received_at": _timestamp(now),
            "sent_at": None,
            "completed_at": None,
            "valid_until": _timestamp(now + 3600),
            "errors": [],
        }

    async def get_message(self, request: Request, token: TokenInfo) -> Response:
        """GET /v2/messages/{id}."""
        message_id = request.path_params["message_id"]
        message = self.state.get_message(message_id)
        if message is None:
            detail = f"No message with id '{message_id}'."
            return telnyx_error(404, "10005", detail, {"parameter": "id"})
        return JSONResponse({"data": message})

    async def list_phone_numbers(self, request: Request, token: TokenInfo) -> Response:
        """GET /v2/phone_numbers with `page[number]`, `page[size]` and `filter[...]`."""
        query = request.query_params
        page: dict[str, int] = {}
        for name, default, maximum in (("page[number]", 1, None), ("page[size]", 20, 250)):
            raw = query.get(name)
            value = int(raw) if raw is not None and re.fullmatch(r"\d{1,9}", raw) else None
            if raw is None:
                value = default
            if value is None or value < 1 or (maximum is not None and value > maximum):
                bound = f" and at most {maximum}" if maximum else ""
                detail = f"'{name}' must be an integer of at least 1{bound}."
                return telnyx_error(400, "10015", detail, {"parameter": name})
            page[name] = value
        records = [phone_number_record(i) for i in range(self.state.phone_numbers)]
        contains = query.get("filter[phone_number]")
        if contains is not None:
            digits = contains.lstrip("+")
            records = [r for r in records if digits.isdigit() and digits in r["phone_number"]]
        for field in ("status", "country_iso_alpha2", "tag"):
            wanted = query.get(f"filter[{field}]")
            if wanted is not None:
                if field == "tag":
                    records = [r for r in records if wanted in r["tags"]]
                else:
                    records = [r for r in records if r[field] == wanted]
        number, size = page["page[number]"], page["page[size]"]
        meta = {
            "page_number": number,
            "page_size": size,
            "total_pages": math.ceil(len(records) / size),
            "total_results": len(records),
        }
        data = records[(number - 1) * size : number * size]
        return JSONResponse({"data": data, "meta": meta})

    async def lookup_number(self, request: Request, token: TokenInfo) -> Response:
        """GET /v2/number_lookup/{phone_number}; each `type` adds its object to the carrier data."""
        number = request.path_params["phone_number"]
        types = request.query_params.getlist("type")
        if not set(types) <= set(_LOOKUP_TYPES):
            detail = f"'type' must be one of: {', '.join(_LOOKUP_TYPES)}."
            return telnyx_error(400, "10015", detail, {"parameter": "type"})
        if not E164_RE.fullmatch(number):
            detail = f"'{number}' is not a phone number in +E.164 format."
            return telnyx_error(422, "10016", detail, {"parameter": "phone_number"})
        digits = number[1:]
        country = next(
            (iso for prefix, iso in _COUNTRIES.items() if digits.startswith(prefix)), None
        )
        name, normalized, mcc, mnc, line_type = _CARRIERS[_pick(number)]
        national = digits[1:] if country == "US" else digits
        if country == "US" and len(national) == 10:
            national = f"({national[:3]}) {national[3:6]}-{national[6:]}"
        data: dict[str, Any] = {
            "record_type": "number_lookup",
            "phone_number": number,
            "national_format": national,
            "country_code": country,
            "valid_number": country is not None,
            "fraud": None,
            "carrier": {
                "name": name,
                "normalized_carrier": normalized,
                "type": line_type,
                "mobile_country_code": mcc,
                "mobile_network_code": mnc,
                "error_code": None,
            },
            "portability": {
                "lrn": digits[-10:],
                "ported_status": "N",
                "ported_date": "",
                "ocn": "6529",
                "line_type": line_type,
                "spid": "6529",
                "spid_carrier_name": name,
                "spid_carrier_type": "2",
                "altspid": "",
                "altspid_carrier_name": "",
                "altspid_carrier_type": "",
                "city": "",
                "state": "",
            },
        }
        if "caller-name" in types:
            data["caller_name"] = {"caller_name": "TELNYX EMULATOR", "error_code": None}
        if "enhanced-caller-name" in types:
            data["enhanced_caller_name"] = {"caller_name": "Telnyx Emulator", "error_code": None}
        if "caller-identity" in types:
            data["caller_identity"] = {"name": "Telnyx Emulator", "error_code": None}
        return JSONResponse({"data": data})


def _injected_failure(status: int, retry_after: int | None) -> Response:
    # As a gateway answers: 429 with Telnyx's body and rate-limit headers, other errors in HTML.
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    if status == 429:
        headers["x-ratelimit-remaining"] = "0"
        if retry_after is not None:
            headers["x-ratelimit-reset"] = str(retry_after)
        return telnyx_error(429, "10011", "Too many requests; slow down.", headers=headers)
    html = f"<html><head><title>{status}</title></head><body><h1>{status}</h1></body></html>"
    return HTMLResponse(html, status_code=status, headers=headers)


def _pick(number: str) -> int:
    return hashlib.sha256(number.encode()).digest()[0] % len(_CARRIERS)
