"""Run in a spawned process by test_block_edges: a block unpickled there gets a token."""

from __future__ import annotations

from prefect_telnyx_oauth import TelnyxOAuthCredentials


def token_in_child(block: TelnyxOAuthCredentials) -> str:
    """The access token the unpickled block hands out in this process."""
    return block.get_token().access_token.get_secret_value()
