"""bot4's trading core: records, pools, rings, stats, and the numba kernels that decide and check every order.

The core imports numpy and numba only. Compiled kernels are cached on disk in a directory keyed by a hash of the
sources that hold kernels (the core's and the venues'): numba checks only the caller's file when it reuses a cached
kernel, and a kernel carries the code of every kernel it calls or inlines from other modules, so a change in any of
them must start a fresh cache; the package's location is in the key too, so a second checkout compiles into its own
directory (``NUMBA_CACHE_DIR`` set by the user wins).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def _source_keyed_cache_dir() -> str:
    digest = hashlib.sha256()
    # where the package lives too: numba also checks each source file's path and time stamp, so another checkout would
    # silently recompile into a shared directory; with its own directory the CLI sees an empty cache and says so
    digest.update(str(Path(__file__).resolve().parent).encode())
    package = Path(__file__).resolve().parent.parent
    for path in sorted([*package.joinpath("core").glob("*.py"), *package.joinpath("venues").glob("*.py")]):
        digest.update(f"{path.parent.name}/{path.name}".encode())
        digest.update(path.read_bytes())
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "bot4", "numba", digest.hexdigest()[:16])


if not os.environ.get("NUMBA_CACHE_DIR"):
    import numba.core.config

    numba.core.config.CACHE_DIR = _source_keyed_cache_dir()
