"""Now `telnyx_oauth.discovery`, in the Prefect-free core; this old name still imports it."""

import sys

from telnyx_oauth import discovery as _m

sys.modules[__name__] = _m
