"""Now `telnyx_oauth.auth`, in the Prefect-free core; this old name still imports it."""

import sys

from telnyx_oauth import auth as _m

sys.modules[__name__] = _m
