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


def test_every_core_module_loads_neither_prefect_nor_airflow() -> None:
    # Another orchestrator (an Airflow hook) can use the core without Prefect installed, and
    # Prefect users never pay for Airflow. A fresh interpreter, because this one has loaded Prefect.
    import subprocess
    import sys

    script = """
import pkgutil, sys, telnyx_oauth
names = [info.name for info in pkgutil.walk_packages(telnyx_oauth.__path__, "telnyx_oauth.")]
for name in names:
    if not name.endswith(".__main__"):  # running it would start a server
        __import__(name)
print(len(names))
print(sorted(m for m in sys.modules if m.split(".")[0] in (
    "prefect", "airflow", "prefect_telnyx_oauth", "airflow_provider_telnyx_oauth")))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    count, loaded = result.stdout.strip().splitlines()
    assert int(count) > 30  # every module was walked, the emulator's included
    assert loaded == "[]", loaded


def test_block_is_found_by_prefect_block_register_through_dir() -> None:
    # `prefect block register -m prefect_telnyx_oauth` walks inspect.getmembers(module).
    import inspect

    from prefect.blocks.core import Block

    blocks = [
        cls for _, cls in inspect.getmembers(prefect_telnyx_oauth) if Block.is_block_class(cls)
    ]
    assert [cls.__name__ for cls in blocks] == ["TelnyxOAuthCredentials"]
