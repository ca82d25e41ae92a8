#!/usr/bin/env bash
# `make dist` (and `make dist-check`, through it): a wheel and an sdist of each of the three
# distributions, telnyx-oauth-core, prefect-telnyx-oauth and airflow-provider-telnyx-oauth, built
# from the sdist as an index would, into OUTDIR (default dist/). A worker image installs from it:
#   pip install --find-links dist prefect-telnyx-oauth
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
outdir=$(realpath -m "${1:-dist}")
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
"$PYTHON" -m venv "$tools/build"
"$tools/build/bin/pip" install --quiet build
for dir in core . airflow-provider; do
  "$tools/build/bin/python" -m build --quiet --outdir "$outdir" "$dir" >/dev/null
done
for kind in 'telnyx_oauth_core-*' 'prefect_telnyx_oauth-*' 'airflow_provider_telnyx_oauth-*'; do
  compgen -G "$outdir/$kind.whl" >/dev/null && compgen -G "$outdir/$kind.tar.gz" >/dev/null || {
    echo "dist: no wheel and sdist for $kind in $outdir" >&2; exit 1; }
done
ls "$outdir"
