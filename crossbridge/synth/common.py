"""What every synthetic-data generator shares: its report and its errors."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path


class SynthArgumentError(ValueError):
    """An argument of a generator is out of range."""


class SynthWriteError(ValueError):
    """A generator handed its writer data that does not fit the layout."""


@dataclass
class SynthReport:
    """What a generator wrote."""

    out_dir: Path
    files: dict[str, int] = field(default_factory=dict)  # file name -> data lines written
    defects: int = 0
    person_years: float = 0.0
    defects_by_type: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["out_dir"] = str(self.out_dir)
        return d
