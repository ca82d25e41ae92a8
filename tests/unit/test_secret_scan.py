"""The secret scanner finds what it must, or the suites relying on it would prove nothing."""

from __future__ import annotations

import base64
import logging

import pytest
from pydantic import SecretStr

from tests.secret_scan import SecretScan, secret_scan_fixture  # noqa: F401

SECRET = "s3cr3t:with%plus+ünï"


def test_secret_scan_clean_texts_pass() -> None:
    scan = SecretScan()
    scan.add_secret(SECRET)
    scan.record_text("Telnyx rejected client id 'abc'", where="message")
    scan.assert_clean()


@pytest.mark.parametrize("prefix", ["", "a", "ab", "abc:"])
def test_secret_scan_finds_base64_of_the_secret_inside_a_longer_blob(prefix: str) -> None:
    scan = SecretScan()
    scan.add_secret(SECRET)
    blob = base64.b64encode((prefix + SECRET + "-tail").encode()).decode()
    scan.record_text(f"Authorization: Basic {blob}", where="header")
    assert scan.leaks()


def test_secret_scan_finds_the_basic_credentials_and_escaped_forms() -> None:
    scan = SecretScan()
    scan.add_client("client-id", SECRET)
    scan.record_text("client_secret=s3cr3t%3Awith%25plus%2B%C3%BCn%C3%AF", where="form")
    scan.record_text('{"client_secret": "s3cr3t:with%plus+\\u00fcn\\u00ef"}', where="json")
    assert len(scan.leaks()) >= 2


def test_secret_scan_finds_a_secret_in_a_chained_cause() -> None:
    scan = SecretScan()
    scan.add_secret(SecretStr(SECRET))
    try:
        try:
            raise ValueError(f"input_value={SECRET!r}")
        except ValueError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        scan.record_exception(outer)
    assert scan.leaks()


def test_secret_scan_finds_a_secret_in_log_arguments() -> None:
    scan = SecretScan()
    scan.add_secret(SECRET)
    record = logging.LogRecord("httpx", logging.DEBUG, __file__, 1, "sent %s", (SECRET,), None)
    scan.record_log_records([record])
    assert scan.leaks()


def test_secret_scan_fixture_registers_every_secret_str_created(secret_scan: SecretScan) -> None:
    before = secret_scan.secret_count
    SecretStr("a-token-created-in-the-test")
    assert secret_scan.secret_count == before + 1


def test_secret_scan_reads_the_logs_of_the_test_call(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="httpcore")
    logging.getLogger("httpcore").debug("sent %s", SECRET)
    scan = SecretScan()
    scan.add_secret(SECRET)
    scan.record_caplog(caplog)
    assert len(scan.leaks()) == 3  # the message, the arguments and the formatted line
