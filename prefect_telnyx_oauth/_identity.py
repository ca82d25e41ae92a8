"""Now `telnyx_oauth._identity`, in the Prefect-free core; this old name still imports it."""

import sys

from telnyx_oauth import _identity as _m

sys.modules[__name__] = _m
