"""Telnyx OAuth for Apache Airflow: the `telnyx_oauth` connection type and `TelnyxOAuthHook`.

This module only describes the provider (Airflow reads `get_provider_info` through the
`apache_airflow_provider` entry point); it imports nothing heavy, so listing providers stays cheap.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

CONN_TYPE = "telnyx_oauth"

_NULLABLE_TEXT = {"type": ["string", "null"]}


def get_provider_info() -> dict[str, Any]:
    """The provider's description: one connection type whose form is declared as data."""
    return {
        "package-name": "airflow-provider-telnyx-oauth",
        "name": "Telnyx OAuth",
        "description": "An always-valid Telnyx OAuth bearer token, shared by every task.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": "airflow_provider_telnyx_oauth.hooks.TelnyxOAuthHook",
                "hook-name": "Telnyx OAuth",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {
                        "login": "Client ID",
                        "password": "Client secret",
                        "host": "Base URL",
                    },
                    "placeholders": {
                        "login": "The OAuth client id from the Telnyx portal",
                        "password": "The OAuth client secret (masked)",
                        "host": "https://api.telnyx.com/v2",
                    },
                },
                "conn-fields": {
                    "scope": {
                        "label": "Scope",
                        "description": "Space-separated scopes to ask for; empty for the "
                        "client's default scopes.",
                        "schema": _NULLABLE_TEXT,
                    },
                    "token_url": {
                        "label": "Token URL",
                        "description": "Only if the token endpoint is not <base URL>/oauth/token.",
                        "schema": _NULLABLE_TEXT,
                    },
                    "auth_method": {
                        "label": "Client authentication",
                        "description": "How the client id and secret reach the token endpoint.",
                        "schema": {
                            "type": "string",
                            "enum": ["client_secret_basic", "client_secret_post"],
                            "default": "client_secret_basic",
                        },
                    },
                    "body_format": {
                        "label": "Token request body",
                        "description": "form (OAuth standard) or json.",
                        "schema": {"type": "string", "enum": ["form", "json"], "default": "form"},
                    },
                    "token_lock": {
                        "label": "Refresh lock",
                        "description": "auto: a file lock under LocalExecutor, none otherwise. "
                        "file: all workers share this host. none: no lock (refresh tokens are "
                        "never spent; each refresh is a client_credentials request).",
                        "schema": {
                            "type": "string",
                            "enum": ["auto", "file", "none"],
                            "default": "auto",
                        },
                    },
                },
            }
        ],
    }
