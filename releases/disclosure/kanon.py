"""k-anonymity of row-level releases by full-domain generalisation and suppression.

Input: a person-level frame (one row per person) and the study's declared
quasi-identifiers (:mod:`releases.disclosure.hierarchies`).  Output: the frame
with every quasi-identifier recoded to one level for *all* rows (global,
full-domain recoding) and the records of the remaining too-small equivalence
classes dropped, so that every class of the quasi-identifier combination has
at least ``k`` records.

Search: the lattice of level combinations (product of each hierarchy's levels;
a few dozen nodes) is walked in order of information loss, defined as the sum
over quasi-identifiers of ``level / top_level`` (0 = as recorded, 1 = ``"*"``;
exact fractions, no float ties).  A node is acceptable when the records in
classes smaller than ``k`` are at most ``floor(max_suppression * n)``.  The
result is the acceptable node of least loss; ties go to fewer suppressed
records, then to the lexicographically smaller level tuple.  Because a coarser
node never suppresses more (classes only merge), the walk stops at the first
loss value that has an acceptable node.

Speed: persons are first compressed to their distinct raw QI combinations with
counts; each node is one vectorised group-count (factorize + bincount) over
those combinations, never a loop over rows.  NULL quasi-identifiers are a value
of their own (see hierarchies).  Error messages carry counts, never the values
of a small class.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import pandas as pd

from releases.disclosure.errors import (
    DisclosureError,
    KAnonymityUnattainable,
    KAnonymityViolation,
)
from releases.disclosure.hierarchies import EncodedColumn, QuasiIdentifier
from releases.disclosure.thresholds import validate_threshold

MAX_LATTICE_NODES = 100_000


@dataclass(frozen=True)
class KAnonResult:
    """Outcome of :func:`k_anonymise`.

    ``frame``: the released rows (suppressed rows dropped, original index kept),
    quasi-identifiers at their chosen level (level 0: unchanged column; higher
    levels: a Categorical of the generalised values).
    ``levels``/``level_names``: chosen level per quasi-identifier column.
    ``suppressed``: records dropped; ``n_classes``/``min_class_size``: the
    equivalence classes of ``frame`` (``min_class_size`` is None when empty).
    """

    frame: pd.DataFrame
    k: int
    levels: dict[str, int]
    level_names: dict[str, str]
    suppressed: int
    n_records: int
    n_classes: int
    min_class_size: int | None
    information_loss: float
    nodes_evaluated: int
    suppressed_index: pd.Index = field(repr=False)

    @property
    def suppressed_fraction(self) -> float:
        return self.suppressed / self.n_records if self.n_records else 0.0


def _combine(codes: Sequence[np.ndarray], cards: Sequence[int], n: int) -> tuple[np.ndarray, int]:
    """Dense ids (0..m-1) of the combinations of several code arrays, and m."""
    key = np.zeros(n, dtype=np.int64)
    card = 1
    for c, m in zip(codes, cards, strict=True):
        m = max(int(m), 1)
        if card * m >= 2**62:
            key, uniq = pd.factorize(key)
            key = key.astype(np.int64)
            card = max(len(uniq), 1)
        key = key * m + c
        card *= m
    ids, uniq = pd.factorize(key)
    return ids.astype(np.int64), len(uniq)


def _loss(node: tuple[int, ...], qis: Sequence[QuasiIdentifier]) -> Fraction:
    return sum((Fraction(level, qi.n_levels - 1) for level, qi in zip(node, qis, strict=True)), Fraction(0))


class _Lattice:
    """Compressed persons: distinct raw QI combinations with their record counts."""

    def __init__(self, encoded: Sequence[EncodedColumn], n: int) -> None:
        self.encoded = encoded
        cards = [e.cardinality(0) for e in encoded]
        self.row_combo, n_combos = _combine([e.codes for e in encoded], cards, n)
        self.combo_counts = np.bincount(self.row_combo, minlength=n_combos).astype(np.int64)
        self.combo_codes = []
        for e in encoded:
            per_combo = np.zeros(n_combos, dtype=np.int64)
            per_combo[self.row_combo] = e.codes  # every row of a combination has the same code
            self.combo_codes.append(per_combo)

    def class_sizes(self, node: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Per combination: its class id at ``node`` and the class's record count."""
        keys = [e.level_codes[lvl][cc] for e, lvl, cc in zip(self.encoded, node, self.combo_codes, strict=True)]
        cards = [e.cardinality(lvl) for e, lvl in zip(self.encoded, node, strict=True)]
        class_id, n_classes = _combine(keys, cards, len(self.combo_counts))
        sizes = np.bincount(class_id, weights=self.combo_counts, minlength=n_classes).astype(np.int64)
        return class_id, sizes


def k_anonymise(
    df: pd.DataFrame,
    quasi_identifiers: Sequence[QuasiIdentifier],
    k: int,
    *,
    max_suppression: float = 0.05,
    max_levels: Mapping[str, int] | None = None,
) -> KAnonResult:
    """Generalise and suppress ``df`` until every QI class has at least ``k`` records (see module doc).

    ``max_levels``: per QI column, the highest level the search may choose (e.g. keep OMOP's
    required year of birth below ``"*"``); nodes above it are never considered.
    """
    k = validate_threshold(k, "k")
    if not 0.0 <= float(max_suppression) <= 1.0:
        raise DisclosureError(f"max_suppression must be within [0, 1], got {max_suppression!r}")
    qis = list(quasi_identifiers)
    columns = [qi.column for qi in qis]
    if not qis:
        raise DisclosureError("k_anonymise needs at least one quasi-identifier")
    if len(set(columns)) != len(columns):
        raise DisclosureError(f"a column is declared twice as quasi-identifier: {columns}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DisclosureError(f"quasi-identifier column(s) {missing} not in the frame")
    n_nodes = math.prod(qi.n_levels for qi in qis)
    if n_nodes > MAX_LATTICE_NODES:
        raise DisclosureError(f"generalisation lattice has {n_nodes} nodes (> {MAX_LATTICE_NODES}); declare fewer levels")

    n = len(df)
    encoded = [qi.encode(df[qi.column]) for qi in qis]
    lattice = _Lattice(encoded, n)
    budget = math.floor(float(max_suppression) * n + 1e-9)

    caps = dict(max_levels or {})
    unknown = sorted(set(caps) - set(columns))
    if unknown:
        raise DisclosureError(f"max_levels names column(s) {unknown} that are not quasi-identifiers")
    tops = [min(qi.n_levels - 1, int(caps.get(qi.column, qi.n_levels - 1))) for qi in qis]
    if any(t < 0 for t in tops):
        raise DisclosureError(f"max_levels must be >= 0, got {caps}")
    nodes = sorted(itertools.product(*(range(t + 1) for t in tops)), key=lambda nd: (_loss(nd, qis), nd))
    best: tuple[int, tuple[int, ...]] | None = None
    best_loss: Fraction | None = None
    evaluated = 0
    for node in nodes:
        loss = _loss(node, qis)
        if best_loss is not None and loss > best_loss:
            break
        evaluated += 1
        class_id, sizes = lattice.class_sizes(node)
        suppressed = int(lattice.combo_counts[sizes[class_id] < k].sum())
        if suppressed <= budget and (best is None or suppressed < best[0]):
            best, best_loss = (suppressed, node), loss
    if best is None:
        raise KAnonymityUnattainable(
            f"no generalisation reaches k={k} with at most {budget} of {n} records suppressed "
            f"(max_suppression={max_suppression})" + (f" within max_levels {caps}" if caps else
                                                      f"; even all-'*' leaves {n} record(s) in one class")
        )

    suppressed, node = best
    class_id, sizes = lattice.class_sizes(node)
    row_size = sizes[class_id][lattice.row_combo]
    keep = np.flatnonzero(row_size >= k)
    frame = df.iloc[keep].copy()
    for qi, e, level in zip(qis, encoded, node, strict=True):
        if level > 0:
            frame[qi.column] = pd.Categorical(qi.generalise(e, level, keep))
    kept_sizes = sizes[sizes >= k]
    return KAnonResult(
        frame=frame,
        k=k,
        levels={qi.column: level for qi, level in zip(qis, node, strict=True)},
        level_names={qi.column: qi.level_names[level] for qi, level in zip(qis, node, strict=True)},
        suppressed=suppressed,
        n_records=n,
        n_classes=int(len(kept_sizes)),
        min_class_size=int(kept_sizes.min()) if len(kept_sizes) else None,
        information_loss=float(best_loss),
        nodes_evaluated=evaluated,
        suppressed_index=df.index[np.flatnonzero(row_size < k)],
    )


def check_k_anonymity(df: pd.DataFrame, columns: Sequence[str], k: int) -> pd.DataFrame:
    """The equivalence classes of ``columns`` with fewer than ``k`` records.

    Returns one row per violating class: the QI values and ``class_size``
    (smallest first); empty when ``df`` is k-anonymous.  NULL is a value.
    """
    k = validate_threshold(k, "k")
    cols = list(columns)
    if not cols:
        raise DisclosureError("check_k_anonymity needs at least one column")
    sizes = df.groupby(cols, dropna=False, observed=True, sort=False).size()
    small = sizes[sizes < k].sort_values(kind="stable")
    return small.rename("class_size").reset_index()


def assert_k_anonymous(df: pd.DataFrame, columns: Sequence[str], k: int) -> None:
    """Raise :class:`KAnonymityViolation` (counts only, no values) unless ``df`` is k-anonymous."""
    small = check_k_anonymity(df, columns, k)
    if len(small):
        raise KAnonymityViolation(
            f"{len(small)} equivalence class(es) of {list(columns)} below k={k}, "
            f"{int(small['class_size'].sum())} record(s), smallest {int(small['class_size'].min())}"
        )
