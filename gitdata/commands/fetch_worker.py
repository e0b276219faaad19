from __future__ import annotations

import os
import sys

from .. import fetch_process


def fetch_worker() -> int:
    """The filter's download process (fetch_process.py); the filter starts it."""
    try:
        fetch_process.serve()
    finally:
        sys.stderr.flush()
    # Like the filter, leave without the interpreter's teardown: the filter waits for this
    # process at the end of git's command, and every answer is written.
    os._exit(0)
