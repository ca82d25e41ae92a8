"""Now `telnyx_oauth._api_errors`, in the Prefect-free core; this old name still imports it."""

import sys

from telnyx_oauth import _api_errors as _m

sys.modules[__name__] = _m
