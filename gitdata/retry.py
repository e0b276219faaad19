"""Trying again: the one retry policy for transient store failures, below both the services
(transfer.py) and the stores' own key-level calls (storage/), which may not import services."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

from .errors import StoreError

#: Attempts after the first for a transient failure. S3 requests are also retried inside
#: botocore (3 attempts), so an object sees at most (RETRIES + 1) x 3 requests.
RETRIES = 4
BACKOFF_MAX = 10.0

_T = TypeVar("_T")


def with_retries(
    fn: Callable[[], _T], retries: int = RETRIES, sleep: Callable[[float], None] = time.sleep
) -> _T:
    """Run fn and return what it returns; on a transient StoreError try again with capped
    exponential backoff."""
    delay = 0.25
    attempt = 0
    while True:
        try:
            return fn()
        except StoreError as e:
            if not e.transient or attempt == retries:
                raise
        sleep(delay)
        delay = min(delay * 2, BACKOFF_MAX)
        attempt += 1
