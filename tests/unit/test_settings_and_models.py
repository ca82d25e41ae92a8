from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import SecretStr, ValidationError

from telnyx_oauth.errors import ConfigurationError
from telnyx_oauth.models import TelnyxToken
from telnyx_oauth.settings import TelnyxSettings

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_settings_read_sdk_variable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELNYX_CLIENT_ID", "cid")
    monkeypatch.setenv("TELNYX_CLIENT_SECRET", "s3cr3t")
    monkeypatch.setenv("TELNYX_BASE_URL", "http://127.0.0.1:9999/v2/")
    monkeypatch.setenv("TELNYX_OAUTH_SCOPE", "messaging")
    settings = TelnyxSettings()
    assert settings.client_id == "cid"
    assert settings.client_secret is not None
    assert settings.client_secret.get_secret_value() == "s3cr3t"
    assert settings.base_url == "http://127.0.0.1:9999/v2"
    assert settings.oauth_scope == "messaging"
    assert "s3cr3t" not in repr(settings)


def test_settings_default_base_url_is_telnyx() -> None:
    assert TelnyxSettings().base_url == "https://api.telnyx.com/v2"


@pytest.mark.parametrize(
    "url", ["http://api.telnyx.com/v2", "http://10.0.0.5/v2", "ftp://x/v2", "not a url"]
)
def test_settings_insecure_or_bad_base_url_is_rejected_with_its_value(url: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        TelnyxSettings(base_url=url)
    assert url in str(info.value)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/v2", "http://localhost/v2", "http://[::1]:81/v2"]
)
def test_settings_http_on_loopback_is_allowed(url: str) -> None:
    assert TelnyxSettings(base_url=url).base_url == url


def test_url_with_embedded_credentials_is_rejected_without_echoing_them() -> None:
    from telnyx_oauth._urls import require_secure_url

    with pytest.raises(ConfigurationError) as info:
        require_secure_url("https://user:hunter2@api.telnyx.com/v2", name="base_url")
    assert "hunter2" not in str(info.value)


def test_token_repr_and_str_hide_secrets() -> None:
    token = TelnyxToken(
        access_token=SecretStr("AT-123"),
        expires_at=T0 + timedelta(hours=1),
        refresh_token=SecretStr("RT-456"),
    )
    for text in (repr(token), str(token), token.model_dump_json()):
        assert "AT-123" not in text
        assert "RT-456" not in text
    assert token.headers() == {"Authorization": "Bearer AT-123"}


def test_token_rejects_naive_expiry() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        TelnyxToken(access_token=SecretStr("x"), expires_at=datetime(2026, 1, 1))


def test_token_leeway_is_clamped_to_half_the_lifetime() -> None:
    short = TelnyxToken(
        access_token=SecretStr("x"), issued_at=T0, expires_at=T0 + timedelta(seconds=30)
    )
    # 60 s leeway on a 30 s token would make it stale at birth; the clamp keeps it for 15 s.
    assert short.is_fresh(T0 + timedelta(seconds=14.9), 60)
    assert not short.is_fresh(T0 + timedelta(seconds=15), 60)
    long = TelnyxToken(
        access_token=SecretStr("x"), issued_at=T0, expires_at=T0 + timedelta(hours=1)
    )
    assert long.is_fresh(T0 + timedelta(seconds=3539), 60)
    assert not long.is_fresh(T0 + timedelta(seconds=3540), 60)
