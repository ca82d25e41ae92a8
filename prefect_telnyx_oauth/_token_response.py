"""Now `telnyx_oauth._token_response`, in the Prefect-free core; this old name still imports it."""

import sys

from telnyx_oauth import _token_response as _m

sys.modules[__name__] = _m
