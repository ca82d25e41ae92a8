#!/usr/bin/env bash
# `make dist-check`: every distribution as users get it from an index, not the editable checkout.
# Builds a wheel and an sdist of the core, prefect-telnyx-oauth and the Airflow provider, then
# installs the wheels into clean venvs: the core alone (no Prefect, gets a token from the
# emulator) and prefect-telnyx-oauth (old import paths are the core's modules; the block
# registers on a throw-away Prefect API). About 2 minutes, most of it installing Prefect.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$PYTHON" -m venv "$out/build"
"$out/build/bin/pip" install --quiet build
for dir in core . airflow-provider; do
  "$out/build/bin/python" -m build --quiet --outdir "$out/dist" "$dir" >/dev/null
done
ls "$out/dist"
for kind in 'telnyx_oauth_core-*' 'prefect_telnyx_oauth-*' 'airflow_provider_telnyx_oauth-*'; do
  compgen -G "$out/dist/$kind.whl" >/dev/null && compgen -G "$out/dist/$kind.tar.gz" >/dev/null || {
    echo "dist-check: no wheel and sdist for $kind" >&2; exit 1; }
done

"$PYTHON" -m venv "$out/core"
"$out/core/bin/pip" install --quiet "$(echo "$out"/dist/telnyx_oauth_core-*.whl)[emulator]"
(cd "$out" && "$out/core/bin/python" - <<'PY'
import sys

from pydantic import SecretStr

from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.token_client import ClientCredentialsGrant, TokenEndpointConfig, request_token

with TelnyxEmulator() as emulator:
    config = TokenEndpointConfig(
        token_url=emulator.token_url,
        client_id=emulator.client_id,
        client_secret=SecretStr(emulator.client_secret),
    )
    assert request_token(config, ClientCredentialsGrant()).access_token.get_secret_value()
from telnyx_oauth.emulator._spec import spec_text

assert "openapi" in spec_text()  # the spec ships inside the core wheel
assert not [name for name in sys.modules if name.split(".")[0] == "prefect"], "core loaded Prefect"
print("dist-check: the core wheel alone gets a token from its emulator, without Prefect")
PY
)

"$PYTHON" -m venv "$out/prefect"
"$out/prefect/bin/pip" install --quiet --find-links "$out/dist" "$(echo "$out"/dist/prefect_telnyx_oauth-*.whl)"
(cd "$out" && PREFECT_HOME="$out/prefect-home" PREFECT_SERVER_ANALYTICS_ENABLED=false \
  "$out/prefect/bin/python" - <<'PY'
import prefect_telnyx_oauth.token_cache as old
import telnyx_oauth.token_cache as new
from prefect_telnyx_oauth import TelnyxOAuthCredentials, TelnyxOAuth

assert old is new, "the old import path is not the core's module"
assert TelnyxOAuth.__module__ == "telnyx_oauth.auth"
TelnyxOAuthCredentials.register_type_and_schema()
print("dist-check: the prefect-telnyx-oauth wheel imports and registers its block")
PY
)
