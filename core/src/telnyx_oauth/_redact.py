"""Mask our own secrets in text a server sent back, in every form in which we sent them.

A server that echoes what it received (in `error_description`, say) may quote the secret raw,
percent- or form-encoded, JSON-escaped, or inside the base64 of the Basic header. Each of those
forms is masked, base64 at every byte alignment, before the text reaches an exception message.
`printable` is the one way server text reaches an error or a log line: masked, one line, bounded.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
ERROR_TEXT_LIMIT = 200
"""The most characters of one piece of server text that an error message or log line quotes."""
_MIN_FORM_LENGTH = 6  # shorter base64 fragments would mask ordinary words by accident


def _base64_cores(data: bytes) -> set[str]:
    """The base64 characters that depend on `data` alone, at each of the three alignments."""
    cores = set()
    for offset in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * offset + data).decode("ascii")
            first = -(-8 * offset // 6)  # the first character made of data bits only
            last = 8 * (offset + len(data)) // 6  # one past the last such character
            cores.add(encoded[first:last])
    return cores


def secret_forms(secret: str) -> set[str]:
    """Every text form of `secret` we could have sent: raw, escaped, encoded, base64."""
    escaped = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    # The secret and its escapes are masked however short (a short secret is still a secret);
    # only base64 fragments, which could match ordinary words, need a minimum length.
    fragments = set()
    for form in escaped:
        fragments |= _base64_cores(form.encode("utf-8"))
    return {form for form in escaped if form} | {
        form for form in fragments if len(form) >= _MIN_FORM_LENGTH
    }


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every form of every secret replaced by `***` (longest forms first)."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms |= secret_forms(secret)
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text


def printable(text: str, secrets: Iterable[str] = (), *, limit: int = ERROR_TEXT_LIMIT) -> str:
    """Server text made safe to show: `secrets` masked, control characters blanked, `limit` long.

    Masking comes first, so a secret split by a control character or the cut is still found.
    """
    text = redact(text, secrets)
    text = "".join(char if char.isprintable() else " " for char in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
