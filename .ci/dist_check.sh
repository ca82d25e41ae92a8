#!/usr/bin/env bash
# `make dist-check`: every distribution as users get it from an index, not the editable checkout.
# Builds the wheels and sdists with `make dist`, then runs every `pip install` line that the
# quickstart and the README show, as written, each in a clean venv: the commands from a checkout
# in a copy of the repository, those with `--find-links dist` beside the built dist/. Then the
# core wheel alone (no Prefect, gets a token from the emulator) and prefect-telnyx-oauth from its
# wheel (old import paths are the core's modules; the block registers on a throw-away Prefect
# API). A few minutes, most of it installing Prefect (pip may use the machine's index for
# the dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
make --no-print-directory dist DIST="$out/dist"

# The documented install commands: `pip install` lines inside ```bash blocks, comments dropped.
documented=$(awk '/^ *```bash/ {fence=1; next} /^ *```/ {fence=0} \
  fence && /^ *pip install / {sub(/^ +/, ""); sub(/ +#.*$/, ""); if (!seen[$0]++) print}' \
  docs/quickstart.md README.md)
[ -n "$documented" ] || { echo "dist-check: no pip install line in the docs" >&2; exit 1; }
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | \
  (mkdir "$out/checkout" && tar -xf - -C "$out/checkout")
n=0
while IFS= read -r command; do
  n=$((n + 1))
  case "$command" in
    *"--find-links dist"*) where=$out venv=$out/wheels label="beside dist/" ;;
    *) where=$out/checkout venv=$out/documented-$n label="in a clone" ;;
  esac
  rm -rf "$venv" && "$PYTHON" -m venv "$venv"
  echo "dist-check: in a clean venv, $label: $command"
  (cd "$where" && PATH="$venv/bin:$PATH" && eval "$command") >"$out/pip.log" 2>&1 || {
    grep -v '^WARNING: Location' "$out/pip.log" | tail -5 >&2
    echo "dist-check: the documented command failed: $command" >&2; exit 1; }
  (cd "$out" && PREFECT_HOME="$out/prefect-home" PREFECT_SERVER_ANALYTICS_ENABLED=false \
    "$venv/bin/python" -c "import prefect_telnyx_oauth as p, telnyx_oauth.emulator
assert p.__file__.startswith('$venv/'), p.__file__
print('dist-check: it installs prefect_telnyx_oauth', p.__version__, 'into the venv')")
done <<<"$documented"
[ -x "$out/wheels/bin/python" ] || {
  echo "dist-check: the docs show no install from the wheels (--find-links dist)" >&2; exit 1; }

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

# prefect-telnyx-oauth as the documented `pip install --find-links dist ...` installed it.
(cd "$out" && PREFECT_HOME="$out/prefect-home" PREFECT_SERVER_ANALYTICS_ENABLED=false \
  "$out/wheels/bin/python" - <<'PY'
from prefect_telnyx_oauth import TelnyxOAuthCredentials, TelnyxOAuth

assert TelnyxOAuth.__module__ == "telnyx_oauth.auth"
TelnyxOAuthCredentials.register_type_and_schema()
print("dist-check: the prefect-telnyx-oauth wheel imports and registers its block")
PY
)
