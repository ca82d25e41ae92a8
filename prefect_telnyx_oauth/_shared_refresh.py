"""Now `telnyx_oauth._shared_refresh`, in the Prefect-free core; this old name still imports it."""

import sys

from telnyx_oauth import _shared_refresh as _m

sys.modules[__name__] = _m
