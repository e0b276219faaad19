"""What a `git data migrate` command works on: refs, and the paths among their files."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import parse_size
from ..errors import ConfigError, UsageError
from ..globs import PathFilter


@dataclass(frozen=True)
class Selection:
    """The options `migrate info`, `import` and `export` share."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    above: int | None = None  # bytes; None: any size
    everything: bool = False
    refs: tuple[str, ...] = ()
    paths: PathFilter = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "paths", PathFilter(self.include, self.exclude))
        if self.everything and self.refs:
            raise UsageError("--everything and REF… cannot go together", "give one or the other")


def selection(
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    above: str | None = None,
    everything: bool = False,
    refs: list[str] | None = None,
) -> Selection:
    """The Selection of the command-line options."""
    size = None
    if above is not None:
        try:
            size = parse_size(above, 0, "--above")
        except ConfigError as e:
            raise UsageError(
                f"--above {above}: not a size", "use a number with k, m or g: --above 10m"
            ) from e
    return Selection(
        tuple(include or ()), tuple(exclude or ()), size, everything, tuple(refs or ())
    )
