"""Moved to `telnyx_oauth.emulator` (the Prefect-free core); this name stays for old imports.

Its submodules are aliased too, so `prefect_telnyx_oauth.emulator._state` is the very module the
emulator uses, never a second copy; `python -m prefect_telnyx_oauth.emulator` still serves.
"""

import importlib
import pkgutil
import sys

from telnyx_oauth import emulator as _m

for _info in pkgutil.iter_modules(_m.__path__):
    if _info.name != "__main__":
        _sub = importlib.import_module(f"{_m.__name__}.{_info.name}")
        sys.modules[f"{__name__}.{_info.name}"] = _sub
sys.modules[__name__] = _m
