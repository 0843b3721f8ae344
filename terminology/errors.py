"""The error every vocabulary reader raises for a missing or malformed file, naming where."""

from __future__ import annotations

from pathlib import Path


class VocabularyFormatError(ValueError):
    """A vocabulary file is missing or malformed; names the file, line and field (or column)."""

    field_label = "field"

    def __init__(self, message: str, file: Path | str | None = None, line: int | None = None,
                 field: str | None = None):
        where = ""
        if file is not None:
            where = f"{file}"
            if line is not None:
                where += f", line {line}"
            if field is not None:
                where += f", {self.field_label} {field}"
            where += ": "
        super().__init__(where + message)
        self.file = None if file is None else str(file)
        self.line = line
        self.field = field


class UnknownCodeSystem(ValueError):
    """A code system name, alias or URI that the hub does not know."""

    def __init__(self, name: str, known: list[str] | tuple[str, ...] = ()):
        hint = f" (known: {', '.join(known)})" if known else ""
        super().__init__(f"unknown code system {name!r}{hint}")
        self.name = name


class MappingCycleError(VocabularyFormatError):
    """'Maps to' relationships that lead back to where they started (or chain past a standard concept)."""
