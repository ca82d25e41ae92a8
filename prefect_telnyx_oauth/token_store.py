"""Now `telnyx_oauth.token_store`, in the Prefect-free core; this old name still imports it."""

import sys

from telnyx_oauth import token_store as _m

sys.modules[__name__] = _m
