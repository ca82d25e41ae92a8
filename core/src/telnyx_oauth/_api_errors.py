"""The pure half of the API core: Telnyx error bodies, the retry policy, error messages.

No I/O: unit tests drive every function with hand-built `httpx.Response`s.

Retries follow the one policy of `_retry.py`. A POST (or PATCH) is retried only when it carries an
idempotency key, since otherwise a retry of a request that did arrive could act twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from telnyx_oauth._redact import printable
from telnyx_oauth._retry import DEFAULT_RETRY_POLICY, RetryPolicy, server_wait_seconds
from telnyx_oauth._token_errors import STATUS_PAGE_URL
from telnyx_oauth.errors import ConfigurationError, TelnyxAPIError, TelnyxErrorDetail
from telnyx_oauth.models import utc_now

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_SHOWN_ERRORS = 3


def _text(value: Any, sent: list[str]) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return printable(" ".join(str(value).split()), sent) or None


def _sent_credentials(response: httpx.Response) -> list[str]:
    """The credential the request carried (a server may echo it back); [] for a bare response."""
    try:
        header = response.request.headers.get("Authorization", "")
    except RuntimeError:  # a response built by hand has no request
        return []
    credential = header.partition(" ")[2].strip()
    return [credential] if credential else []


def parse_error_details(response: httpx.Response) -> list[TelnyxErrorDetail]:
    """The entries of a Telnyx error body `{"errors": [{code, title, detail}]}`; [] otherwise.

    Codes arrive as strings or numbers and are returned as strings; anything that is not such a
    body (HTML from a proxy, an empty body, an OAuth-style `error`) gives an empty list. Each
    text is made printable and bounded, with the request's own credential masked in every form,
    since a server or proxy may echo the `Authorization` header it received.
    """
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    sent = _sent_credentials(response)
    return [
        TelnyxErrorDetail(
            code=_text(item.get("code"), sent),
            title=_text(item.get("title"), sent),
            detail=_text(item.get("detail"), sent),
        )
        for item in errors
        if isinstance(item, dict)
    ]


def may_retry(method: str, idempotency_key: str | None) -> bool:
    """True when repeating the request cannot act twice: an idempotent method, or a key."""
    return method.upper() in _IDEMPOTENT_METHODS or bool(idempotency_key)


def _describe(detail: TelnyxErrorDetail) -> str:
    head = " ".join(part for part in (detail.code, detail.title) if part)
    if detail.detail and detail.detail != detail.title:
        return f"{head}: {detail.detail}" if head else detail.detail
    return head or "(empty error entry)"


def _hint(
    status: int, *, attempts: int, retryable: bool, wait: float | None, policy: RetryPolicy
) -> str:
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    if wait is not None and wait > policy.retry_after_cap_seconds:
        return (
            f"Telnyx asked to wait {wait:.0f} s, longer than the "
            f"{policy.retry_after_cap_seconds:g} s worth waiting inside a task; run it again "
            "after that wait."
        )
    if (status == 429 or status >= 500) and not retryable:
        return (
            "It was not retried: a POST without an idempotency key could act twice. Pass "
            "idempotency_key=... to make it safe to retry."
        )
    if status == 429:
        later = f"after {wait:.0f} s" if wait is not None else "later"
        return f"Rate limited after {tries}; try again {later}, or send fewer requests at once."
    if status >= 500:
        return f"Telnyx kept failing after {tries}; try again later or check {STATUS_PAGE_URL}."
    return {
        401: (
            "The bearer token was refused even after a refresh; check that the OAuth client is "
            "active and allowed to make this call."
        ),
        403: "The OAuth client may not do this; check its scopes and the account's permissions.",
        404: "Check the id or path; the resource does not exist for this account.",
    }.get(status, "Fix the request as the errors above say; repeating it will fail the same way.")


def api_error(
    method: str,
    path: str,
    response: httpx.Response,
    *,
    label: str,
    attempts: int = 1,
    retryable: bool = True,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    now: datetime | None = None,
) -> TelnyxAPIError:
    """The `TelnyxAPIError` for a failed answer: what failed, Telnyx's errors, what to do next.

    The message names the method, the path (no query string), the status, the block and up to
    three Telnyx errors; it never contains a header, so never a token.
    """
    status = response.status_code
    details = parse_error_details(response)
    wait = (
        server_wait_seconds(response, now=now or utc_now())
        if status == 429 or status >= 500
        else None
    )
    if details:
        what = "; ".join(_describe(detail) for detail in details[:_SHOWN_ERRORS])
        if len(details) > _SHOWN_ERRORS:
            what += f"; and {len(details) - _SHOWN_ERRORS} more"
    else:
        kind = response.headers.get("content-type", "").split(";")[0].strip() or "empty"
        what = f"no Telnyx error body ({kind})"
    hint = _hint(status, attempts=attempts, retryable=retryable, wait=wait, policy=policy)
    what = what.rstrip(".")
    msg = f"Telnyx API {method.upper()} {path} answered {status} for {label}: {what}. {hint}"
    return TelnyxAPIError(msg, status_code=status, errors=details, retry_after=wait)


def json_body(method: str, path: str, response: httpx.Response, *, label: str) -> dict[str, Any]:
    """The JSON object of a successful answer; `{}` for an empty body.

    Raises:
        TelnyxAPIError: The body is not a JSON object (a proxy's HTML page, a wrong base URL).
    """
    if not response.content:
        return {}
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    kind = response.headers.get("content-type", "").split(";")[0].strip() or "unknown"
    msg = (
        f"Telnyx API {method} {path} answered {response.status_code} for {label} with a body that "
        f"is not a JSON object ({kind}). Check base_url: it should be the Telnyx API, e.g. "
        "https://api.telnyx.com/v2."
    )
    raise TelnyxAPIError(msg, status_code=response.status_code, errors=[])


def check_path(path: str) -> str:
    """`path` with a leading slash.

    Raises:
        ConfigurationError: `path` is an absolute URL.
    """
    # An absolute URL would send the bearer token to whatever host it names.
    if "://" in path or path.startswith("//"):
        msg = f"path must be relative to the block's base_url, like '/balance'; got {path!r}."
        raise ConfigurationError(msg)
    return path if path.startswith("/") else f"/{path}"
