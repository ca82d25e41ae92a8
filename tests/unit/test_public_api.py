from __future__ import annotations

import prefect_telnyx_oauth


def test_public_names_promised_by_the_docs_are_exported() -> None:
    promised = {
        "TelnyxOAuthCredentials",
        "TelnyxOAuth",
        "TelnyxToken",
        "TelnyxSettings",
        "get_telnyx_token",
        "get_telnyx_auth_headers",
        "telnyx_request",
        "send_message",
        "get_balance",
        "list_phone_numbers",
        "lookup_number",
        "TokenRequestError",
        "InvalidClientError",
        "TokenEndpointUnavailableError",
        "TelnyxAPIError",
        "ConfigurationError",
        "__version__",
    }
    assert promised <= set(prefect_telnyx_oauth.__all__)
    for name in prefect_telnyx_oauth.__all__:
        assert getattr(prefect_telnyx_oauth, name) is not None


def test_version_is_a_release_string() -> None:
    parts = prefect_telnyx_oauth.__version__.split(".")
    assert len(parts) == 3
    assert all(part.isdigit() for part in parts)
