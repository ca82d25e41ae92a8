"""Now `telnyx_oauth.settings`, in the Prefect-free core; this old name still imports it."""

import sys

from telnyx_oauth import settings as _m

sys.modules[__name__] = _m
