"""Example DAGs: `telnyx_example` (the API calls, mapped) and `telnyx_oauth_keeper`."""
