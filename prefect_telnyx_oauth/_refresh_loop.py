"""Now `telnyx_oauth._refresh_loop`, in the Prefect-free core; this old name still imports it."""

import sys

from telnyx_oauth import _refresh_loop as _m

sys.modules[__name__] = _m
