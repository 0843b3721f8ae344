"""Quasi-identifiers and their generalisation hierarchies (for k-anonymity).

A :class:`QuasiIdentifier` names a column of a person-level frame and the
levels it can be generalised to, from level 0 (the value as recorded) to the
top level ``"*"`` (everything merged).  Each intermediate level is a function
of the raw value, applied to the column's *distinct* values only (never row by
row); :meth:`QuasiIdentifier.encode` checks that each level is a coarsening of
the one below it (two values merged at one level stay merged above it), which
is what makes the lattice search in :mod:`releases.disclosure.kanon` sound.

Four constructors cover the quasi-identifiers a study declares:

* :func:`year_of_birth`: year -> 5-year band ``"1980-1984"`` -> 10-year band
  ``"1980-1989"`` -> ``"*"`` (band widths configurable, each dividing the next);
* :func:`sex`: value -> ``"*"``;
* :func:`region`: code -> parent -> grandparent ... -> ``"*"`` from parent maps
  (e.g. municipality -> region -> ``"*"``); :func:`parent_maps_from_table`
  builds the maps from a wide table with one column per level;
* :func:`diagnosis`: code -> 3-character category (``"E11.9"`` -> ``"E11"``)
  -> ICD-10 chapter (``"chapter IV"``, or a caller's category -> chapter map)
  -> ``"*"``.

NULL rule: a NULL quasi-identifier is a value of its own at every level below
the top (it forms its own equivalence class, it is never guessed into a band or
region); at the top level it becomes ``"*"`` like everything else.  A non-NULL
value a hierarchy does not cover (an unknown municipality, a year that is not a
whole number) raises :class:`UnknownHierarchyCode`: no silent NULL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from releases.disclosure.errors import InvalidHierarchy, UnknownHierarchyCode

TOP = "*"

# First 3-character category of each ICD-10 chapter, in code order.  Works for
# WHO ICD-10 (and the Finnish edition) and for ICD-10-CM (Taiwan): where the two
# differ (D48/D49, E90/E89, F00/F01), the boundary falls between chapters.
# U00-U99 (codes for special purposes) sorts between S-T and V-Y.
_ICD10_CHAPTER_STARTS = np.array(
    ["A00", "C00", "D50", "E00", "F00", "G00", "H00", "H60", "I00", "J00", "K00",
     "L00", "M00", "N00", "O00", "P00", "Q00", "R00", "S00", "U00", "V00", "Z00"]
)  # fmt: skip
_ICD10_CHAPTERS = np.array(
    ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI",
     "XII", "XIII", "XIV", "XV", "XVI", "XVII", "XVIII", "XIX", "XXII", "XX", "XXI"]
)  # fmt: skip

Generaliser = Callable[[pd.Series], pd.Series]


@dataclass(frozen=True)
class EncodedColumn:
    """A quasi-identifier column as integer codes, with one code map per level.

    ``codes``: per row, the index of its distinct raw value (NULL has its own).
    ``level_codes[L]``: per distinct raw value, its code at level ``L``.
    ``level_values[L]``: per distinct raw value, its value at level ``L``
    (object array; NULL stays NULL below the top).
    """

    codes: np.ndarray
    level_codes: tuple[np.ndarray, ...]
    level_values: tuple[np.ndarray, ...]

    def cardinality(self, level: int) -> int:
        codes = self.level_codes[level]
        return int(codes.max()) + 1 if len(codes) else 0


@dataclass(frozen=True)
class QuasiIdentifier:
    """A column and its generalisation levels.

    ``level_names`` names levels 0..top (the last is always ``"*"``).
    ``generalisers`` has one function per intermediate level (1..top-1); each
    maps a Series of distinct non-NULL raw values to their values at that level
    (same length and order, no NULLs).
    """

    column: str
    level_names: tuple[str, ...]
    generalisers: tuple[Generaliser, ...] = ()

    def __post_init__(self) -> None:
        if len(self.level_names) != len(self.generalisers) + 2:
            raise InvalidHierarchy(
                f"{self.column}: {len(self.level_names)} level names for "
                f"{len(self.generalisers)} intermediate levels (need raw + intermediate + '*')"
            )

    @property
    def n_levels(self) -> int:
        """Number of levels including the raw value (0) and the top ``"*"``."""
        return len(self.level_names)

    def encode(self, series: pd.Series) -> EncodedColumn:
        """Codes of ``series`` and of its distinct values at every level (checks the hierarchy)."""
        codes, uniques = pd.factorize(series, use_na_sentinel=False)
        raw = pd.Series(np.asarray(uniques, dtype=object))
        null = raw.isna().to_numpy()
        values: list[np.ndarray] = [raw.to_numpy(dtype=object)]
        for level, generalise in enumerate(self.generalisers, start=1):
            out = np.full(len(raw), None, dtype=object)
            if (~null).any():
                mapped = pd.Series(generalise(raw[~null].reset_index(drop=True)))
                if len(mapped) != int((~null).sum()):
                    raise InvalidHierarchy(f"{self.column}: level {self.level_names[level]!r} changed the number of values")
                missing = mapped.isna().to_numpy()
                if missing.any():
                    examples = raw[~null].to_numpy()[missing][:5].tolist()
                    raise UnknownHierarchyCode(
                        f"{self.column}: {int(missing.sum())} distinct value(s) not covered at level "
                        f"{self.level_names[level]!r}, e.g. {examples}"
                    )
                out[~null] = mapped.to_numpy(dtype=object)
            values.append(out)
        values.append(np.full(len(raw), TOP, dtype=object))
        level_codes = tuple(pd.factorize(pd.Series(v), use_na_sentinel=False)[0].astype(np.int64) for v in values)
        for level in range(1, len(level_codes) - 1):
            _check_coarsening(self, level, level_codes[level], level_codes[level + 1])
        return EncodedColumn(np.asarray(codes, dtype=np.int64), level_codes, tuple(values))

    def generalise(self, encoded: EncodedColumn, level: int, rows: np.ndarray) -> pd.Categorical:
        """The column at ``level`` for the rows ``rows`` (positions), as a Categorical."""
        per_value = pd.Categorical(encoded.level_values[level])
        return per_value.take(encoded.codes[rows])


def _check_coarsening(qi: QuasiIdentifier, level: int, lower: np.ndarray, upper: np.ndarray) -> None:
    """Raise unless every value of level ``level`` maps to exactly one value of ``level + 1``."""
    pairs = pd.DataFrame({"lower": lower, "upper": upper}).drop_duplicates()
    split = pairs["lower"].duplicated()
    if split.any():
        raise InvalidHierarchy(
            f"{qi.column}: level {qi.level_names[level + 1]!r} is not a coarsening of "
            f"{qi.level_names[level]!r} ({int(split.sum())} value(s) split between parents)"
        )


def year_of_birth(column: str = "year_of_birth", bands: Sequence[int] = (5, 10)) -> QuasiIdentifier:
    """Year -> bands of ``bands`` years (``"1980-1984"``, aligned on multiples) -> ``"*"``."""
    widths = [int(w) for w in bands]
    if any(w < 2 for w in widths) or any(b % a for a, b in zip(widths, widths[1:], strict=False)):
        raise InvalidHierarchy(f"{column}: band widths must be >= 2 and each divide the next, got {list(bands)}")

    def band(width: int) -> Generaliser:
        def generalise(values: pd.Series) -> pd.Series:
            years = pd.to_numeric(values, errors="coerce").astype("float64")
            bad = years.isna() | (years != np.floor(years))
            lo = (np.floor(years / width) * width).astype("Int64")
            labels = lo.astype("string") + "-" + (lo + width - 1).astype("string")
            return labels.astype(object).where(~bad, None)

        return generalise

    names = ("year", *(f"{w}-year band" for w in widths), TOP)
    return QuasiIdentifier(column, names, tuple(band(w) for w in widths))


def sex(column: str = "sex") -> QuasiIdentifier:
    """Sex as recorded -> ``"*"``."""
    return QuasiIdentifier(column, ("sex", TOP))


def parent_maps_from_table(table: pd.DataFrame, columns: Sequence[str]) -> list[dict]:
    """Parent maps from a wide table with one column per level, finest first.

    ``parent_maps_from_table(areas, ["municipality", "region"])`` gives
    ``[{municipality: region}]``; a child with two parents raises.
    """
    maps: list[dict] = []
    for child, parent in zip(columns, columns[1:], strict=False):
        pairs = table[[child, parent]].drop_duplicates()
        if pairs[child].duplicated().any() or pairs.isna().any().any():
            raise InvalidHierarchy(f"{child} -> {parent}: a {child} with several or no {parent}")
        maps.append(dict(zip(pairs[child], pairs[parent], strict=True)))
    return maps


def from_parent_maps(column: str, parent_maps: Sequence[Mapping], level_names: Sequence[str]) -> QuasiIdentifier:
    """Code -> parent_maps[0] -> parent_maps[1] ... -> ``"*"``; ``level_names`` names the raw level and each map's level."""
    if len(level_names) != len(parent_maps) + 1:
        raise InvalidHierarchy(f"{column}: {len(level_names)} level names for {len(parent_maps)} parent maps (+1 raw)")
    maps = [dict(m) for m in parent_maps]

    def chain(depth: int) -> Generaliser:
        def generalise(values: pd.Series) -> pd.Series:
            out = values
            for m in maps[:depth]:
                out = out.map(m)  # unmapped -> NaN -> UnknownHierarchyCode in encode
            return out

        return generalise

    return QuasiIdentifier(column, (*level_names, TOP), tuple(chain(d) for d in range(1, len(maps) + 1)))


def region(
    column: str = "region", parent_maps: Sequence[Mapping] = (), level_names: Sequence[str] | None = None
) -> QuasiIdentifier:
    """Region code -> parent -> ... -> ``"*"`` (e.g. municipality -> region -> ``"*"``).

    Codes must match the maps' keys exactly (type included: ``"091"`` is not ``91``).
    """
    names = level_names or ("code", *(f"parent {i}" for i in range(1, len(parent_maps) + 1)))
    return from_parent_maps(column, parent_maps, names)


def icd10_chapter(categories: pd.Series) -> pd.Series:
    """ICD-10 chapter (``"chapter IX"``) of 3-character categories; NULL where not ``[A-Z][0-9][0-9]``."""
    cats = categories.astype("string").str.upper()
    valid = cats.str.fullmatch(r"[A-Z][0-9]{2}").fillna(False).to_numpy(dtype=bool)
    pos = np.searchsorted(_ICD10_CHAPTER_STARTS, cats.fillna("").to_numpy(dtype=str), side="right") - 1
    chapters = np.char.add("chapter ", _ICD10_CHAPTERS[np.clip(pos, 0, None)]).astype(object)
    return pd.Series(np.where(valid & (pos >= 0), chapters, None), index=categories.index, dtype=object)


def diagnosis(column: str = "diagnosis", chapters: str | Mapping | None = "icd10") -> QuasiIdentifier:
    """Diagnosis code -> 3-character category -> chapter -> ``"*"``.

    The category is the code without dots, upper case, first 3 characters
    (``"e11.9"`` -> ``"E11"``).  ``chapters``: ``"icd10"`` for the built-in
    ICD-10 chapters (codes must then be ICD-10 shaped), a mapping category ->
    chapter, or ``None`` to skip the chapter level.
    """

    def category(values: pd.Series) -> pd.Series:
        cats = values.astype("string").str.strip().str.upper().str.replace(".", "", regex=False).str.slice(0, 3)
        return cats.astype(object).where(cats.str.len() == 3, None)

    if chapters is None:
        return QuasiIdentifier(column, ("code", "category", TOP), (category,))
    if isinstance(chapters, str):
        if chapters != "icd10":
            raise InvalidHierarchy(f"{column}: chapters must be 'icd10', a mapping or None, got {chapters!r}")

        def chapter(values: pd.Series) -> pd.Series:
            return icd10_chapter(category(values))

    else:
        table = dict(chapters)

        def chapter(values: pd.Series) -> pd.Series:
            return category(values).map(table)

    return QuasiIdentifier(column, ("code", "category", "chapter", TOP), (category, chapter))
