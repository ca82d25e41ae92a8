"""docs/configuration.md against the code: every field, default and variable, in both directions.

The fields are read from the classes, so a field added to the block or the settings fails here
until the page documents it, and a documented field that no longer exists fails too.
"""

from __future__ import annotations

from typing import Any, Literal, get_args, get_origin

import pytest
from pydantic import SecretStr

from prefect_telnyx_oauth import TelnyxOAuthCredentials, TelnyxSettings
from tests.docs.markdown import page_text, section, table_rows, unquote

PAGE = page_text("configuration.md")


def documented_default(field: Any) -> str:
    # A field whose default comes from the environment shows what it gives with none set.
    return "required" if field.is_required() else repr(field.get_default(call_default_factory=True))


def rows(heading: str) -> dict[str, list[str]]:
    return {unquote(row[0]): row for row in table_rows(section(PAGE, heading))}


def form_fields() -> set[str]:
    return set(TelnyxOAuthCredentials.model_json_schema()["properties"])


def test_configuration_page_lists_every_block_field_of_the_form_with_its_default() -> None:
    documented = rows("Block fields")
    assert set(documented) == form_fields()
    for name, row in documented.items():
        field = TelnyxOAuthCredentials.model_fields[name]
        assert unquote(row[1]) == documented_default(field), name
        assert row[3], f"{name}: say when to change it"


def test_configuration_page_lists_every_token_cache_field() -> None:
    hidden = set(TelnyxOAuthCredentials.model_fields) - form_fields()
    assert set(rows("Token cache fields")) == hidden


def test_configuration_page_lists_every_environment_variable_with_its_default() -> None:
    prefix = TelnyxSettings.model_config.get("env_prefix", "")
    documented = rows("Environment variables")
    expected = {
        f"{prefix}{name.upper()}": field for name, field in TelnyxSettings.model_fields.items()
    }
    assert set(documented) == set(expected)
    for variable, row in documented.items():
        assert unquote(row[1]) == documented_default(expected[variable]), variable


def sample_value(field_name: str) -> tuple[str, Any]:
    """A valid, non-default environment value for a block field, and the value it should give."""
    field = TelnyxOAuthCredentials.model_fields[field_name]
    choices = [c for c in get_args(field.annotation) if c != field.default]
    if get_origin(field.annotation) is Literal:  # another of its values
        return str(choices[0]), choices[0]
    if field.annotation is bool:
        return "true", True
    if "url" in field_name:
        return "http://127.0.0.1:8765/v2", "http://127.0.0.1:8765/v2"
    if field.annotation is float:
        return "7.5", 7.5
    if field.annotation is int:
        return "2", 2
    return f"{field_name}-from-env", f"{field_name}-from-env"


@pytest.mark.parametrize("field_name", sorted(rows("Block fields")))
def test_configuration_page_environment_column_is_what_from_env_reads(
    field_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    variable = unquote(rows("Block fields")[field_name][2])
    monkeypatch.setenv("TELNYX_CLIENT_ID", "id")
    monkeypatch.setenv("TELNYX_CLIENT_SECRET", "secret")
    raw, expected = sample_value(field_name)
    if variable == "none":
        # The page says no variable sets it: the obvious name must indeed change nothing.
        variable = f"TELNYX_{field_name.upper()}"
        expected = TelnyxOAuthCredentials.model_fields[field_name].get_default(
            call_default_factory=True
        )
    monkeypatch.setenv(variable, raw)
    value = getattr(TelnyxOAuthCredentials.from_env(), field_name)
    built = getattr(TelnyxOAuthCredentials(client_id="id", client_secret="secret"), field_name)
    if field_name not in ("client_id", "client_secret"):
        assert built == value, "a block built in code reads the same variable"
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    assert value == expected
