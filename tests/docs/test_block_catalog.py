"""The block's card in the Prefect catalog looks like PrefectHQ's own (issue 11 point 3).

`make ui-check` looks at the real form in Chromium; these checks pin the schema and metadata it
is built from, in milliseconds and without a server. Nothing here downloads the logo.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import urlparse

from prefect_telnyx_oauth import TelnyxOAuthCredentials

# Where PrefectHQ's collections host their logos, and Telnyx's own developer site.
KNOWN_IMAGE_HOSTS = {"cdn.sanity.io", "images.ctfassets.net", "developers.telnyx.com"}
IMAGE_SUFFIXES = {".png", ".svg", ".jpg", ".jpeg"}


def test_block_logo_is_an_image_url_on_a_known_host() -> None:
    url = urlparse(str(TelnyxOAuthCredentials._logo_url))
    assert url.scheme == "https"
    assert url.hostname in KNOWN_IMAGE_HOSTS
    assert PurePosixPath(url.path).suffix.lower() in IMAGE_SUFFIXES


def test_block_form_has_no_type_toggle_on_any_field() -> None:
    # A property offering several types ("anyOf": string or null) gets a "str / None" toggle
    # in the UI form instead of a text box.
    properties = TelnyxOAuthCredentials.model_json_schema()["properties"]
    toggles = {name: spec for name, spec in properties.items() if "anyOf" in spec}
    assert toggles == {}
    assert properties["scope"]["type"] == "string"
    assert properties["token_url"]["type"] == "string"


def test_block_optional_text_left_empty_in_the_form_means_unset() -> None:
    block = TelnyxOAuthCredentials(client_id="id", client_secret="secret", scope="", token_url="")
    assert block.scope is None
    assert block.token_url is None


def test_block_card_code_example_loads_the_block_and_uses_it() -> None:
    example = TelnyxOAuthCredentials.get_code_example()
    assert example is not None
    assert 'TelnyxOAuthCredentials.load("BLOCK_NAME")' in example
    assert "get_client()" in example
