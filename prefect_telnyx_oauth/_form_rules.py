"""The block's rules for a secret and a URL, in its JSON schema, for the validators that read it.

The Prefect API validates values against a schema at `/ui/schemas/validate` (Python `jsonschema`).
Prefect 3.9's block forms save without it (seen in its bundled UIs: V1 checks only `required` and
lengths in the browser; V2 posts the form's values in place of the schema), so the field
descriptions, which both forms show, state the same rules, and the block refuses them at load.
The rules live in the root `allOf`: V1's form posts only some keys of each property (`pattern` is
dropped) but a root `allOf` whole, and draws no field for it. Each rule is an `if` (a value the
block refuses) and a `then` `const` naming the rule: jsonschema reports a failed `const` as
"'<rule>' was expected", in the block's words and without the value, which for the secret a masked
input must not show.
"""

from __future__ import annotations

from typing import Any

_HTTP = "^[hH][tT][tT][pP]://"
# http to localhost, 127.0.0.0/8 or ::1 (not *.localhost), as `telnyx_oauth._urls.is_loopback_host`.
_LOOPBACK_HTTP = (
    _HTTP + r"([lL][oO][cC][aA][lL][hH][oO][sS][tT]"
    r"|127(\.[0-9]{1,3}){3}|\[[0:]*:0*1\])(:[0-9]*)?([/?#]|$)"
)
_EDGE_WHITESPACE = r"^\s|\s$"


def _rule(field: str, refused: dict[str, Any], words: str) -> dict[str, Any]:
    return {"properties": {field: {"if": {"type": "string", **refused}, "then": {"const": words}}}}


def _secure_url(field: str) -> dict[str, Any]:
    refused = {"pattern": _HTTP, "not": {"pattern": _LOOPBACK_HTTP}}
    words = (
        f"an https {field}: plain http is allowed only for 127.0.0.1, ::1 and localhost (it "
        "would send credentials in clear text)"
    )
    return _rule(field, refused, words)


FORM_RULES: list[dict[str, Any]] = [
    _rule(
        "client_secret",
        {"pattern": _EDGE_WHITESPACE},
        "a client_secret without whitespace at the start or end (a copied line end?)",
    ),
    _secure_url("base_url"),
    _secure_url("token_url"),
]
"""The schema's root `allOf`: what the block's validators refuse, as the UI form can check it."""
