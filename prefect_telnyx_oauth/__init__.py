"""An always-valid Telnyx OAuth bearer token for Prefect flows."""

from prefect_telnyx_oauth._version import __version__

__all__ = ["__version__"]
