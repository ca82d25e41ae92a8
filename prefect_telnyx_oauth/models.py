"""Now `telnyx_oauth.models`, in the Prefect-free core; this old name still imports it."""

import sys

from telnyx_oauth import models as _m

sys.modules[__name__] = _m
