"""`python -m prefect_telnyx_oauth.cli`, the same as `prefect-telnyx-oauth`."""

from prefect_telnyx_oauth.cli import main

main()
