from __future__ import annotations

from ..errors import UsageError
from .selection import Selection


def export(sel: Selection, **options: object) -> int:
    what = "export"
    raise UsageError(f"git data migrate {what} is not built yet", "upgrade gitdata")
