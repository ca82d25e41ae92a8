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


def test_core_modules_load_no_prefect_module() -> None:
    # Another orchestrator (an Airflow hook) can use the core without Prefect installed.
    import subprocess
    import sys

    core = (
        "prefect_telnyx_oauth",
        "telnyx_oauth.auth",
        "telnyx_oauth.token_cache",
        "telnyx_oauth.token_client",
        "telnyx_oauth.token_store",
        "telnyx_oauth.pkce",
        "telnyx_oauth.discovery",
    )
    script = (
        f"import sys\nfor name in {core!r}:\n    __import__(name)\n"
        "print(sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout


def test_block_is_found_by_prefect_block_register_through_dir() -> None:
    # `prefect block register -m prefect_telnyx_oauth` walks inspect.getmembers(module).
    import inspect

    from prefect.blocks.core import Block

    blocks = [
        cls for _, cls in inspect.getmembers(prefect_telnyx_oauth) if Block.is_block_class(cls)
    ]
    assert [cls.__name__ for cls in blocks] == ["TelnyxOAuthCredentials"]
