"""Now `telnyx_oauth.errors`, in the Prefect-free core; this old name still imports it."""

import sys

from telnyx_oauth import errors as _m

sys.modules[__name__] = _m
