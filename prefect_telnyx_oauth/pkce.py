"""Now `telnyx_oauth.pkce`, in the Prefect-free core; this old name still imports it."""

import sys

from telnyx_oauth import pkce as _m

sys.modules[__name__] = _m
