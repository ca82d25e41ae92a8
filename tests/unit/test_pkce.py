"""PKCE pairs and authorization URLs (RFC 7636, RFC 6749 §4.1.1)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from telnyx_oauth.errors import ConfigurationError
from telnyx_oauth.pkce import (
    build_authorization_url,
    code_challenge_s256,
    generate_pkce_pair,
)

UNRESERVED = re.compile(r"^[A-Za-z0-9\-._~]+$")


def test_code_challenge_matches_rfc7636_appendix_b_vector() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge_s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.mark.parametrize("length", [43, 64, 127, 128])
def test_generate_pkce_pair_gives_verifier_of_length_from_unreserved_set(length: int) -> None:
    pair = generate_pkce_pair(length)
    assert len(pair.verifier) == length
    assert UNRESERVED.fullmatch(pair.verifier)
    assert pair.challenge == code_challenge_s256(pair.verifier)
    assert pair.method == "S256"


def test_generate_pkce_pair_default_verifier_is_within_rfc_bounds() -> None:
    pair = generate_pkce_pair()
    assert 43 <= len(pair.verifier) <= 128
    # base64url without padding of a 32-byte digest.
    assert re.fullmatch(r"[A-Za-z0-9\-_]{43}", pair.challenge)


def test_generate_pkce_pair_gives_a_new_verifier_each_time() -> None:
    verifiers = {generate_pkce_pair().verifier for _ in range(50)}
    assert len(verifiers) == 50


def test_pkce_pair_repr_hides_verifier() -> None:
    pair = generate_pkce_pair()
    assert pair.verifier not in repr(pair)
    assert pair.challenge in repr(pair)


@pytest.mark.parametrize("length", [42, 129, 0, True])
def test_generate_pkce_pair_rejects_length_outside_rfc_bounds(length: int) -> None:
    with pytest.raises(ConfigurationError, match="43 to 128"):
        generate_pkce_pair(length)


@pytest.mark.parametrize("verifier", ["a" * 42, "a" * 129, "a" * 42 + "!", "é" * 43])
def test_code_challenge_rejects_bad_verifier_without_echoing_it(verifier: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        code_challenge_s256(verifier)
    assert verifier not in str(caught.value)
    assert "generate_pkce_pair" in str(caught.value)


def test_build_authorization_url_carries_every_parameter() -> None:
    url = build_authorization_url(
        "https://api.telnyx.com/v2/oauth/authorize",
        client_id="client 1",
        redirect_uri="http://127.0.0.1:8765/callback",
        scope="  messaging   numbers ",
        state="st&ate",
        code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "api.telnyx.com",
        "/v2/oauth/authorize",
    )
    assert parse_qs(parts.query) == {
        "response_type": ["code"],
        "client_id": ["client 1"],
        "redirect_uri": ["http://127.0.0.1:8765/callback"],
        "state": ["st&ate"],
        "code_challenge": ["E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"],
        "code_challenge_method": ["S256"],
        "scope": ["messaging numbers"],
    }


@pytest.mark.parametrize("scope", [None, "", "   "])
def test_build_authorization_url_omits_blank_scope(scope: str | None) -> None:
    url = build_authorization_url(
        "https://api.telnyx.com/v2/oauth/authorize", "c", "http://127.0.0.1/cb", scope, "s", "x"
    )
    assert "scope" not in parse_qs(urlsplit(url).query)


def test_build_authorization_url_keeps_existing_query() -> None:
    url = build_authorization_url(
        "https://auth.example.com/authorize?tenant=a", "c", "http://127.0.0.1/cb", None, "s", "x"
    )
    query = parse_qs(urlsplit(url).query)
    assert query["tenant"] == ["a"]
    assert query["client_id"] == ["c"]


def test_build_authorization_url_rejects_plain_http_on_public_host() -> None:
    with pytest.raises(ConfigurationError, match="authorize_url"):
        build_authorization_url("http://auth.example.com/authorize", "c", "r", None, "s", "x")


@pytest.mark.parametrize("empty", ["client_id", "redirect_uri", "state", "code_challenge"])
def test_build_authorization_url_names_the_empty_parameter(empty: str) -> None:
    values = {"client_id": "c", "redirect_uri": "r", "state": "s", "code_challenge": "x"}
    values[empty] = ""
    with pytest.raises(ConfigurationError, match=empty):
        build_authorization_url("https://a.example/authorize", scope=None, **values)
