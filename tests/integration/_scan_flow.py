"""The flow of the secret-scan test (run as a script): every token path and every API task, at
DEBUG, results on.

Usage: python _scan_flow.py BLOCK_NAME
"""

from __future__ import annotations

import logging
import sys

from prefect import flow
from pydantic import SecretStr

from prefect_telnyx_oauth import (
    TelnyxOAuthCredentials,
    get_balance,
    get_telnyx_auth_headers,
    get_telnyx_token,
    list_phone_numbers,
    send_message,
)
from telnyx_oauth.errors import TelnyxOAuthError


@flow
def scan(name: str) -> dict[str, object]:
    block = TelnyxOAuthCredentials.load(name, _sync=True)
    token = get_telnyx_token(name)
    get_telnyx_token(block, force_refresh=True)
    headers = get_telnyx_auth_headers(block)
    with block.get_client() as client:
        balance = client.get("/balance").json()
    # The API tasks, by name and by block: their logs are scanned, and so are their results if
    # a change ever lets Prefect persist them (cache_policy=NONE keeps it from writing them now).
    task_balance = get_balance(name)
    message = send_message(block, "+15550000001", "scan", from_="+15550000002")
    numbers = list_phone_numbers(name, page_size=2, max_pages=1)
    reversed_secret = SecretStr(block.client_secret.get_secret_value()[::-1])
    wrong = block.model_copy(update={"client_secret": reversed_secret})
    wrong._block_document_id = None  # an unsaved copy with a wrong secret
    try:
        wrong.get_token(force_refresh=True)
        failed = ""
    except TelnyxOAuthError as exc:
        failed = type(exc).__name__
        print(f"expected failure: {exc!r} {exc}")
    return {
        "scope": token.scope,
        "header_kind": headers["Authorization"].split()[0],
        "currency": balance["data"]["currency"],
        "failed": failed,
        "task_currency": task_balance["currency"],
        "message_parts": message["parts"],
        "numbers": len(numbers),
    }


if __name__ == "__main__":
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    for logger_name in ("httpx", "httpcore", "telnyx_oauth", "prefect_telnyx_oauth", "prefect"):
        logging.getLogger(logger_name).setLevel(logging.DEBUG)
        logging.getLogger(logger_name).addHandler(handler)
    result = scan(sys.argv[1])
    assert result["failed"] == "InvalidClientError", result
    assert (result["task_currency"], result["message_parts"], result["numbers"]) == ("USD", 1, 2)
    print(result)
