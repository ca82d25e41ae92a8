from __future__ import annotations

import httpx
import pytest
from prefect.states import exception_to_failed_state

from prefect_telnyx_oauth import InvalidClientError, TokenEndpointUnavailableError
from prefect_telnyx_oauth.tasks import is_transient


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        # The token call already spent its attempts within its deadline: a task retry would only
        # multiply token requests against an endpoint that is down.
        (TokenEndpointUnavailableError("down", status_code=503, retry_after=1, attempts=3), False),
        (httpx.ConnectError("Prefect API unreachable while loading the block"), True),
        (InvalidClientError("bad secret", status_code=401, error="invalid_client"), False),
        (ValueError("a bug"), False),
    ],
)
async def test_task_retry_condition_retries_only_transient_failures(
    error: Exception, retried: bool
) -> None:
    state = await exception_to_failed_state(error)
    assert is_transient(None, None, state) is retried  # type: ignore[arg-type]
