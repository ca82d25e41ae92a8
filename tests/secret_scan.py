"""A reusable check that no secret leaks into exception texts or log output.

`SecretScan` holds the secrets of a test (client secrets, access and refresh tokens, codes) and the
texts a user could see (every exception's `str` and `repr` down its `__cause__`/`__context__` chain,
its formatted traceback, every log record), and reports any secret found in them: plain, url- or
JSON-escaped, or base64 (standard and urlsafe, at every byte alignment, so a secret inside a longer
base64 blob such as a Basic `Authorization` header is found too).

The `secret_scan` fixture makes this automatic for a test module:

    from tests.secret_scan import secret_scan_fixture  # noqa: F401

    pytestmark = pytest.mark.usefixtures("secret_scan")

While the test runs it records every `pydantic.SecretStr` created as a secret (our client secrets,
tokens and refresh tokens are all wrapped in one) and every `TelnyxOAuthError` raised or built, and
captures all logging at DEBUG (including `httpx` and `httpcore`); at teardown it fails the test on
any leak. Secrets that are not `SecretStr` (an authorization code, a PKCE verifier) are added with
`secret_scan.add_secret(...)`.
"""

from __future__ import annotations

import base64
import json
import logging
import traceback
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from pydantic import SecretStr

from telnyx_oauth.errors import TelnyxOAuthError

MIN_SECRET_LENGTH = 8
"""Shorter values would match by accident (and no real secret is that short)."""

_CAPTURED_LOGGERS = (
    "",
    "httpx",
    "httpcore",
    "prefect_telnyx_oauth",
    "telnyx_oauth",
    "hpack",
    "h11",
)


def secret_variants(secret: str) -> set[str]:
    """Every form in which `secret` could show up in text: plain, escaped, or base64-encoded."""
    variants = {secret, quote_plus(secret), quote(secret, safe=""), json.dumps(secret)[1:-1]}
    variants.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    raw = secret.encode("utf-8")
    for prefix in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * prefix + raw).decode("ascii")
            # Keep only the 4-char groups made of secret bytes alone: those appear whatever
            # surrounds the secret at this alignment.
            start = 4 if prefix else 0
            end = 4 * ((prefix + len(raw)) // 3)
            if end - start >= MIN_SECRET_LENGTH:
                variants.add(encoded[start:end])
    return {variant for variant in variants if len(variant) >= MIN_SECRET_LENGTH}


def exception_texts(exc: BaseException) -> Iterator[str]:
    """`str`, `repr`, notes and the formatted traceback of `exc` and every chained exception."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        yield from (str(note) for note in getattr(current, "__notes__", ()))
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    yield "".join(traceback.format_exception(exc))


class SecretScan:
    """Secrets, and the texts that must not contain them."""

    def __init__(self) -> None:
        self._secrets: dict[str, set[str]] = {}
        self._texts: list[tuple[str, str]] = []
        self._exceptions: list[BaseException] = []

    @property
    def secret_count(self) -> int:
        """How many distinct secrets are being looked for."""
        return len(self._secrets)

    def add_secret(self, secret: str | SecretStr | None) -> None:
        """Look for `secret` (ignored when None or shorter than `MIN_SECRET_LENGTH`)."""
        if isinstance(secret, SecretStr):
            secret = secret.get_secret_value()
        if secret and len(secret) >= MIN_SECRET_LENGTH and secret not in self._secrets:
            self._secrets[secret] = secret_variants(secret)

    def add_client(self, client_id: str, client_secret: str) -> None:
        """Look for a client secret and for the Basic credentials built from it."""
        self.add_secret(client_secret)
        for userpass in (
            f"{client_id}:{client_secret}",
            f"{quote_plus(client_id)}:{quote_plus(client_secret)}",
        ):
            self.add_secret(base64.b64encode(userpass.encode("utf-8")).decode("ascii"))

    def record_exception(self, exc: BaseException) -> None:
        """Scan `exc` and its chain (read at check time, after `raise ... from` has set it)."""
        self._exceptions.append(exc)

    def record_text(self, text: str, *, where: str) -> None:
        """Scan `text`; `where` names it in a failure report."""
        self._texts.append((where, text))

    def record_log_records(self, records: Iterable[logging.LogRecord]) -> None:
        """Scan each record's message, arguments and attached exception."""
        for record in records:
            where = f"log record {record.name}:{record.levelname}"
            self.record_text(record.getMessage(), where=where)
            self.record_text(repr(record.args), where=where)
            if record.exc_info and record.exc_info[1] is not None:
                self.record_exception(record.exc_info[1])

    def record_caplog(self, caplog: pytest.LogCaptureFixture) -> None:
        """Scan what `caplog` captured during the test's setup and call, raw and formatted."""
        # At teardown `caplog.records` holds only teardown's records; the test ran in "call".
        for phase in ("setup", "call"):
            records = caplog.get_records(phase)
            self.record_log_records(records)
            text = "\n".join(caplog.handler.format(record) for record in records)
            self.record_text(text, where=f"formatted log output ({phase})")

    def leaks(self) -> list[str]:
        """One line per (text, secret form) found; empty when clean."""
        texts = list(self._texts)
        for exc in self._exceptions:
            texts += [(f"exception {type(exc).__name__}", text) for text in exception_texts(exc)]
        found = []
        for where, text in texts:
            for secret, variants in self._secrets.items():
                for variant in variants:
                    if variant in text:
                        found.append(f"{where}: contains a form of secret {secret[:3]}…: {text!r}")
        return found

    def assert_clean(self) -> None:
        """Fail with every leak found."""
        leaks = self.leaks()
        assert not leaks, "secrets leaked:\n" + "\n".join(leaks)


@pytest.fixture(name="secret_scan")
def secret_scan_fixture(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Iterator[SecretScan]:
    """Fail the test if any secret it touched shows up in an exception or a log line."""
    scan = SecretScan()
    original_secret_init = SecretStr.__init__
    original_error_init = TelnyxOAuthError.__init__

    def secret_init(self: SecretStr, secret_value: str) -> None:
        original_secret_init(self, secret_value)
        if isinstance(secret_value, str):
            scan.add_secret(secret_value)

    def error_init(self: TelnyxOAuthError, *args: Any, **kwargs: Any) -> None:
        original_error_init(self, *args, **kwargs)
        scan.record_exception(self)

    # Pass-through observers: behaviour is unchanged, the scan only learns what was created.
    monkeypatch.setattr(SecretStr, "__init__", secret_init)
    monkeypatch.setattr(TelnyxOAuthError, "__init__", error_init)
    for name in _CAPTURED_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name or None)
    yield scan
    scan.record_caplog(caplog)
    scan.assert_clean()
