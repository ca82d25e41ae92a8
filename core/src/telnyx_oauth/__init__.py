"""The Telnyx OAuth token core, for any orchestrator: token client, cache, store protocol,
`httpx.Auth`, models, errors, settings and a local Telnyx emulator. It imports no orchestrator;
`prefect-telnyx-oauth` and `airflow-provider-telnyx-oauth` build on it."""

from telnyx_oauth._version import __version__

__all__ = ["__version__"]
