"""Credential identities: a fast in-process key, and a salted slow stamp that may be stored.

The key (`identity_key`) tells two sets of credentials apart inside this process: an HMAC under a
random per-process key, so it reveals nothing even if printed. Another process, even one started
from the same code at the same moment, computes another key for the same credentials, so a key
never names anything shared (a lock file, a lock, a stored field): those are named after what
every process knows alike and no secret, such as a connection id or a block document id. The
stamp (`credential_stamp`) is stored beside a saved token, so any process can tell whether a
token belongs to its credentials. Anyone who can read the stamp could test guesses of the secret
offline, so it is scrypt, salted per block, and costs ~50 ms per guess; it is computed once per
identity per process, never on the hot path, and kept in a `SecretStr` like the other secrets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
from collections.abc import Sequence
from typing import TypeVar

K = TypeVar("K")

_PROCESS_KEY = os.urandom(32)
_SCHEME = "scrypt1"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024, "dklen": 24}
_MEMO_SIZE = 256

Parts = Sequence[str | None]
"""What a token belongs to: token URL, client id, client secret, scope."""

_lock = threading.Lock()
_digests: dict[tuple[bytes, str], str] = {}  # (salt, identity key) -> digest, bounded
_stamps: dict[str, str] = {}  # identity key -> the stamp this process writes, bounded


def identity_key(parts: Parts) -> str:
    """A digest of `parts` that is stable in this process and means nothing outside it."""
    joined = b"\0".join((part or "").encode("utf-8") for part in parts)
    return hmac.new(_PROCESS_KEY, joined, hashlib.sha256).hexdigest()[:32]


def _digest(salt: bytes, parts: Parts, key: str) -> str:
    with _lock:
        known = _digests.get((salt, key))
    if known is not None:
        return known
    joined = b"\0".join((part or "").encode("utf-8") for part in parts)
    raw = hashlib.scrypt(joined, salt=salt, **_SCRYPT)
    digest = base64.urlsafe_b64encode(raw).decode("ascii")
    with _lock:
        _remember(_digests, (salt, key), digest)
    return digest


def _remember(memo: dict[K, str], key: K, value: str) -> None:
    memo[key] = value
    while len(memo) > _MEMO_SIZE:
        del memo[next(iter(memo))]


def _salt_of(stamp: str) -> bytes | None:
    scheme, _, rest = stamp.partition("$")
    salt, _, digest = rest.partition("$")
    if scheme != _SCHEME or not salt or not digest:
        return None  # an older or foreign stamp: its token is simply requested again
    try:
        return base64.urlsafe_b64decode(salt.encode("ascii"))
    except ValueError:
        return None


def stamp_matches(stamp: str | None, parts: Parts, key: str | None = None) -> bool:
    """True when `stamp` was made from exactly these credentials."""
    salt = _salt_of(stamp) if stamp else None
    if stamp is None or salt is None:
        return False
    key = key or identity_key(parts)
    expected = f"{_SCHEME}${stamp.split('$')[1]}${_digest(salt, parts, key)}"
    return hmac.compare_digest(expected, stamp)


def credential_stamp(parts: Parts, existing: str | None = None, key: str | None = None) -> str:
    """The stamp to store beside a token of these credentials.

    Reuses `existing` (the block's stored stamp) when it matches, so a saved block keeps one salt;
    otherwise makes a stamp with a new random salt, once per identity per process.
    """
    key = key or identity_key(parts)
    if existing is not None and stamp_matches(existing, parts, key):
        return existing
    with _lock:
        known = _stamps.get(key)
    if known is not None:
        return known
    salt = os.urandom(16)
    salt_text = base64.urlsafe_b64encode(salt).decode("ascii")
    stamp = f"{_SCHEME}${salt_text}${_digest(salt, parts, key)}"
    with _lock:
        _remember(_stamps, key, stamp)
    return stamp
