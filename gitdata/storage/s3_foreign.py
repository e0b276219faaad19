"""Reading objects another tool laid out in S3 (a DVC remote: `<prefix>/files/md5/ab/cdef…`),
through the same client, credentials, endpoint handling and error messages as our own store.

Only reads, only keys of a narrow shape under the URL's prefix: a key read from a project's
files never reaches outside that prefix. Imported only when such a remote is opened.
"""

from __future__ import annotations

import re

from ..errors import ObjectMissing, StoreError
from . import s3_transfer
from .s3 import S3Store

#: Hex digits, folder names and a `.dir` suffix: every key a DVC cache layout has.
_KEY = re.compile(r"(?:[a-z0-9]+/)*[0-9a-f]{2}/[0-9a-f]{30}(?:\.dir)?")


class ForeignS3(S3Store):
    def fetch(self, key: str, dest: str) -> bool:
        """Write the object `key` (relative to the URL's prefix) to the new file `dest`; False
        when the store does not have it. The caller verifies the bytes."""
        if not _KEY.fullmatch(key):
            raise StoreError(
                f"refused the key {key!r}", "this is a bug in gitdata: please report it"
            )
        full = f"{self.prefix}/{key}" if self.prefix else key
        try:
            self._guard(
                lambda: s3_transfer.download(
                    self.client, self.transfer_config, self.bucket, full, dest, None, None
                ),
                full,
            )
        except ObjectMissing:
            return False
        return True
