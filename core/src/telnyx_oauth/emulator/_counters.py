"""`EmulatorCounters`: what the emulator was asked and answered, readable from any thread."""

from __future__ import annotations

import threading
from typing import Any


class EmulatorCounters:
    """Request and issuance counters; every read returns a copy, safe from any thread.

    Attributes:
        token_requests: POST /oauth/token requests that arrived.
        token_requests_by_grant: arrivals by raw `grant_type` ("missing" when absent).
        token_requests_by_status: answered token requests by HTTP status.
        token_request_times: `time.monotonic()` at the arrival of each token request.
        token_requests_by_user_agent: arrivals by `User-Agent` header ("" when absent).
        api_requests: answered API requests (balance, messages, phone numbers, number lookup).
        api_requests_by_status: answered API requests by HTTP status.
        tokens_issued: distinct access tokens issued.
        messages_created: distinct messages created (idempotent replays are not counted).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token_requests_by_grant: dict[str, int] = {}
        self._token_requests_by_status: dict[int, int] = {}
        self._token_request_times: list[float] = []
        self._token_requests_by_user_agent: dict[str, int] = {}
        self._api_requests_by_status: dict[int, int] = {}
        self._tokens_issued = 0
        self._messages_created = 0

    @property
    def token_requests(self) -> int:
        with self._lock:
            return len(self._token_request_times)

    @property
    def token_requests_by_grant(self) -> dict[str, int]:
        with self._lock:
            return dict(self._token_requests_by_grant)

    @property
    def token_requests_by_status(self) -> dict[int, int]:
        with self._lock:
            return dict(self._token_requests_by_status)

    @property
    def token_request_times(self) -> list[float]:
        with self._lock:
            return list(self._token_request_times)

    @property
    def token_requests_by_user_agent(self) -> dict[str, int]:
        with self._lock:
            return dict(self._token_requests_by_user_agent)

    @property
    def api_requests(self) -> int:
        with self._lock:
            return sum(self._api_requests_by_status.values())

    @property
    def api_requests_by_status(self) -> dict[int, int]:
        with self._lock:
            return dict(self._api_requests_by_status)

    @property
    def tokens_issued(self) -> int:
        with self._lock:
            return self._tokens_issued

    @property
    def messages_created(self) -> int:
        with self._lock:
            return self._messages_created

    def snapshot(self) -> EmulatorCounters:
        """Return a detached copy that later requests do not change."""
        copy = EmulatorCounters()
        with self._lock:
            copy._token_requests_by_grant = dict(self._token_requests_by_grant)
            copy._token_requests_by_status = dict(self._token_requests_by_status)
            copy._token_request_times = list(self._token_request_times)
            copy._token_requests_by_user_agent = dict(self._token_requests_by_user_agent)
            copy._api_requests_by_status = dict(self._api_requests_by_status)
            copy._tokens_issued = self._tokens_issued
            copy._messages_created = self._messages_created
        return copy

    def as_dict(self) -> dict[str, Any]:
        """Return every counter as JSON-ready data (status keys become strings)."""
        snap = self.snapshot()
        return {
            "token_requests": snap.token_requests,
            "token_requests_by_grant": snap.token_requests_by_grant,
            "token_requests_by_status": {
                str(k): v for k, v in snap.token_requests_by_status.items()
            },
            "token_request_times": snap.token_request_times,
            "token_requests_by_user_agent": snap.token_requests_by_user_agent,
            "api_requests": snap.api_requests,
            "api_requests_by_status": {str(k): v for k, v in snap.api_requests_by_status.items()},
            "tokens_issued": snap.tokens_issued,
            "messages_created": snap.messages_created,
        }

    def __repr__(self) -> str:
        return f"EmulatorCounters({self.as_dict()!r})"

    def _reset(self) -> None:
        with self._lock:
            self._token_requests_by_grant.clear()
            self._token_requests_by_status.clear()
            self._token_request_times.clear()
            self._token_requests_by_user_agent.clear()
            self._api_requests_by_status.clear()
            self._tokens_issued = 0
            self._messages_created = 0

    def _token_request_arrived(self, grant: str, at: float, user_agent: str = "") -> None:
        with self._lock:
            self._token_request_times.append(at)
            by_agent = self._token_requests_by_user_agent
            by_agent[user_agent] = by_agent.get(user_agent, 0) + 1
            self._token_requests_by_grant[grant] = self._token_requests_by_grant.get(grant, 0) + 1

    def _token_request_answered(self, status: int) -> None:
        with self._lock:
            self._token_requests_by_status[status] = (
                self._token_requests_by_status.get(status, 0) + 1
            )

    def _api_request_answered(self, status: int) -> None:
        with self._lock:
            self._api_requests_by_status[status] = self._api_requests_by_status.get(status, 0) + 1

    def _token_issued(self) -> None:
        with self._lock:
            self._tokens_issued += 1

    def _message_created(self) -> None:
        with self._lock:
            self._messages_created += 1
