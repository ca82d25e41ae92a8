"""A local Telnyx for pipeline tests and the offline demo.

`TelnyxEmulator` serves, on a real loopback socket from a daemon thread, Telnyx's OAuth token
endpoint (as in its OpenAPI spec, shipped here as `spec/telnyx-oauth-token.openapi.yaml`) and the
API routes the tasks use. It imports nothing of the client library: only starlette, uvicorn and the
standard library.

Routes (under `base_url`, e.g. `http://127.0.0.1:54321/v2`):

- `POST /oauth/token`: client_credentials, refresh_token, authorization_code (PKCE S256);
  HTTP Basic or body client authentication; spec error bodies (`invalid_request`,
  `invalid_client` + `WWW-Authenticate`, `invalid_grant`, `unsupported_grant_type`,
  `invalid_scope`); `Cache-Control: no-store`.
- `GET /oauth/authorize`: always consents, redirects with `code` and `state`.
- `POST /oauth/introspect` (RFC 7662) and RFC 8414 metadata at
  `/.well-known/oauth-authorization-server` (also under `/v2`).
- Bearer-protected: `GET /balance`, `POST /messages` (with `Idempotency-Key`),
  `GET /messages/{id}`, `GET /phone_numbers` (`page[...]`, `filter[...]`),
  `GET /number_lookup/{number}`, `GET /detail_records` (messaging and call-control records:
  `seed_detail_records` adds a deterministic history of any size; sent messages add theirs).
- Every response carries `x-ratelimit-limit`, `x-ratelimit-remaining` and `x-ratelimit-reset`.

Knobs (constructor arguments, methods, CLI flags, and `POST /_emulator/knobs` at run time): token
lifetime, refresh token rotation, refresh tokens on client_credentials, the next N token requests
failing (HTML 5xx) or rate limited (429 + `Retry-After`), the next N API requests failing
(`fail_next_api_requests`), token latency, how HTTP Basic credentials are decoded
(`basic_auth_decoding`), revocation, and a clock that tests move forward with `advance_clock`.
`check_spec=True` checks every token answer against the packaged OpenAPI spec (`spec_report()`).
docs/emulator.md lists them all.

Example:
    ```python
    from telnyx_oauth.emulator import TelnyxEmulator

    with TelnyxEmulator(token_ttl_seconds=60) as emulator:
        emulator.fail_next_token_requests(1)  # the first token request gets an HTML 503
        ...  # point the code under test at emulator.base_url
        assert emulator.counters.token_requests_by_status == {503: 1, 200: 1}
    ```

From a shell, `python -m telnyx_oauth.emulator --port 8765` serves until Ctrl-C and prints
the matching `export TELNYX_...` lines and curl examples. Its knobs change at run time:

```
curl -X POST http://127.0.0.1:8765/_emulator/knobs -H 'Content-Type: application/json' \\
     -d '{"rotate_refresh_tokens": true, "fail_next_token_requests": 2}'
curl -X POST http://127.0.0.1:8765/_emulator/revoke
curl http://127.0.0.1:8765/_emulator/counters
```

Other control routes: `GET /_emulator/knobs`, `POST /_emulator/counters/reset`,
`POST /_emulator/clients` (`{"client_id", "client_secret", "allowed_scopes"?,
"redirect_uris"?}`), `POST /_emulator/clock/advance` (`{"seconds": 601}`) and
`POST /_emulator/api_failures` (`{"n": 2, "status": 429, "retry_after": 3}`). They are not
authenticated, which is why the emulator binds loopback unless given another `host`.
"""

from telnyx_oauth.emulator._counters import EmulatorCounters
from telnyx_oauth.emulator._emulator import TelnyxEmulator

__all__ = ["EmulatorCounters", "TelnyxEmulator"]
