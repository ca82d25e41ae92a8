"""Now `telnyx_oauth._cache_entry`, in the Prefect-free core; this old name still imports it."""

import sys

from telnyx_oauth import _cache_entry as _m

sys.modules[__name__] = _m
