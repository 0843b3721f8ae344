"""Chunked writer for the synthetic Finnish register files, with defect injection and ground truth.

The generator hands whole columns (pyarrow string arrays, nulls = missing) to
:class:`FinnishFileSink`; the sink injects defects into a share of the rows, joins
the fields with the file type's delimiter (``;`` for registers, TAB for FinnGen),
writes nulls as the file's missing token (empty, or ``NA`` in FinnGen), splits the
chunk by period (statistical year) and appends the encoded bytes (Latin-1 for the
registers, UTF-8 for FinnGen) with ``\\n`` line ends.  No Python loop runs over
rows except over the few rows that receive a line-level defect.

Defects (exactly one per chosen row; never on a header):

* ``invalid_national_id`` - the henkilötunnus gets a wrong check character, an impossible
  date (check character recomputed) or a character that is no century sign;
* ``impossible_date`` - a required date gets an impossible day/month (31.02.2019);
* ``unknown_code`` - a code outside the catalogue (not quarantined: maps to concept 0);
* ``duplicate_row`` - an exact copy of the line right after it;
* ``truncated_line`` - trailing fields cut (wrong field count);
* ``wrong_encoding`` - a line with non-ASCII text written as UTF-8 inside a Latin-1 file;
* ``orphan_diagnosis`` / ``orphan_visit_code`` - a child row's episode/visit id replaced by an
  id no episode/visit has;
* ``temporary_id`` - the person's code replaced by a valid temporary code (NNN 900-999): flagged,
  not quarantined.

Rows whose parent row was quarantined are listed too (``orphan_*`` with detail ``parent
quarantined``) so every quarantined row is explained.  The ground truth
(``_ground_truth/defects.csv``: file, line, defect, column, expected_stage, expected_reason,
detail) never holds a henkilötunnus.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connectors.finland.hetu import CHECK_CHARS
from connectors.finland.layout import FILE_TYPES, FileType
from crossbridge.synth.common import SynthWriteError

DEFECT_TYPES = (
    "invalid_national_id",
    "impossible_date",
    "unknown_code",
    "duplicate_row",
    "truncated_line",
    "wrong_encoding",
    "orphan_diagnosis",
    "orphan_visit_code",
    "temporary_id",
)
#: defects after which the connector quarantines the row (so its child rows become orphans)
QUARANTINING = frozenset({"invalid_national_id", "impossible_date", "truncated_line", "wrong_encoding",
                          "orphan_diagnosis", "orphan_visit_code", "duplicate_row"})
#: defects that make a parent row (episode / visit) disappear from staging
PARENT_LOST = frozenset({"invalid_national_id", "impossible_date", "truncated_line", "wrong_encoding"})
GT_COLUMNS = ("file", "line", "defect", "column", "expected_stage", "expected_reason", "detail")
_IMPOSSIBLE_DDMM = ("31.02", "30.02", "31.04", "31.06", "31.09", "31.11", "15.13", "00.05", "32.01")
_IMPOSSIBLE_ISO_MMDD = ("-02-31", "-02-30", "-04-31", "-13-01", "-00-15")
_BAD_SIGNS = np.array(list("GZ*/_"))
_BAD_DATES = ("3102", "3002", "3104", "1513", "0011", "3206")  # DDMM that never exist


@dataclass(frozen=True)
class DefectRecord:
    file: str
    line: int
    defect: str
    column: str
    detail: str

    @property
    def expected(self) -> tuple[str, str]:
        """(stage that should catch it, reason code it should get)."""
        if self.defect == "unknown_code":
            return "terminology", "unmapped_code"
        if self.defect == "temporary_id":
            return "flag", "temporary_id"
        if self.defect == "truncated_line":
            return "quarantine", "wrong_field_count"
        return "quarantine", self.defect


@dataclass
class _FileState:
    lines: int = 1  # physical lines written so far (header = line 1)


@dataclass
class Extras:
    """Per-row inputs for the field defects of one chunk (input row order).

    ``unknown``: (column, replacement code or null per row); ``orphan``: (column, defect name,
    replacement id per row); ``temp_ids``: callable giving temporary codes for row indices;
    ``protect``: rows that must receive no defect; ``cascade``: (rows listed as orphans of a
    quarantined parent, defect name, column).
    """

    unknown: tuple[str, pa.Array] | None = None
    orphan: tuple[str, str, pa.Array] | None = None
    temp_ids: Callable[[np.ndarray], pa.Array] | None = None
    protect: np.ndarray | None = None
    cascade: tuple[np.ndarray, str, str] | None = None


@dataclass
class FinnishFileSink:
    """Appends formatted chunks to the files of ``out_dir``; ``defect_rate``: share of data rows
    of every file that receive exactly one defect."""

    out_dir: Path
    defect_rate: float
    seed: int
    files: dict[str, _FileState] = field(default_factory=dict)
    defects: list[DefectRecord] = field(default_factory=list)
    _calls: dict[str, int] = field(default_factory=dict)

    # ------------------------------------------------------------------ files
    def create(self, ft: FileType, periods: list[int | None]) -> None:
        header = (ft.delimiter.join(ft.column_names) + "\n").encode("ascii")
        for p in periods:
            name = ft.file_name(p) if ft.period == "year" else ft.file_name()
            (self.out_dir / name).write_bytes(header)
            self.files[name] = _FileState()

    def rows_per_file(self) -> dict[str, int]:
        return {name: st.lines - 1 for name, st in sorted(self.files.items())}

    def defect_counts(self) -> dict[str, int]:
        out = dict.fromkeys(DEFECT_TYPES, 0)
        for d in self.defects:
            out[d.defect] += 1
        return out

    # ------------------------------------------------------------------ write
    def write(self, ft: FileType, cols: dict[str, pa.Array], periods: np.ndarray | None = None,
              extras: Extras | None = None) -> np.ndarray:
        """Format and append one chunk; return the defect given to each row (input order, '' = none).

        ``cols``: every layout column as a string array (null = missing);
        ``periods``: per row statistical year (yearly files).
        """
        missing = [c for c in ft.column_names if c not in cols]
        if missing:
            raise SynthWriteError(f"{ft.source_name}: generator gave no values for {missing}")
        ex = extras or Extras()
        n = len(cols[ft.columns[0].name])
        if n == 0:
            return np.zeros(0, dtype=object)
        call = self._calls.get(ft.key, 0)
        self._calls[ft.key] = call + 1
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(
            [self.seed, 2, FILE_TYPES.index(ft), call])))
        periods = np.zeros(n, np.int64) if periods is None else np.asarray(periods, dtype=np.int64)
        order = np.argsort(periods, kind="stable")
        take = pa.array(order)
        cols = {k: cols[k].take(take) for k in ft.column_names}
        periods = periods[order]
        kinds_in = self._choose(ft, n, cols, ex, order, rng)
        kinds = kinds_in[order]
        details = np.full(n, "", dtype=object)
        column = np.full(n, "", dtype=object)
        cols = self._field_defects(ft, cols, kinds, details, column, ex, order, rng)

        null = ft.null_tokens[0] if ft.null_tokens else ""
        arrs = []
        for c in ft.column_names:  # columns, not rows
            a = cols[c]
            arrs.append(pc.fill_null(a if a.type == pa.string() else a.cast(pa.string()), null))
        lines = pc.binary_join_element_wise(*arrs, ft.delimiter)

        trunc = np.flatnonzero(kinds == "truncated_line")
        if trunc.size:
            old = lines.take(pa.array(trunc)).to_pylist()
            k = rng.integers(1, min(3, len(ft.columns) - 1) + 1, size=trunc.size)
            new = [ft.delimiter.join(v.split(ft.delimiter)[: len(ft.columns) - int(kk)]) for v, kk in zip(old, k)]
            details[trunc] = [f"{int(kk)} trailing fields cut" for kk in k]
            lines = _replace(lines, trunc, new)
        dup = kinds == "duplicate_row"
        idx = np.repeat(np.arange(n), 1 + dup.astype(np.int64))
        is_copy = np.r_[False, idx[1:] == idx[:-1]]
        if dup.any():
            lines = lines.take(pa.array(idx))
        out_kinds = np.where(is_copy | (kinds[idx] != "duplicate_row"), kinds[idx], "")
        lines = pc.binary_join_element_wise(lines, pa.scalar(""), "\n")
        cascade = np.zeros(n, bool)
        if ex.cascade is not None:
            cascade = ex.cascade[0][order]
        self._append(ft, lines, periods[idx], out_kinds, details[idx], column[idx], cascade[idx] & ~is_copy, ex)
        return kinds_in

    # --------------------------------------------------------------- defects
    def _choose(self, ft: FileType, n: int, cols: dict[str, pa.Array], ex: Extras, order: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
        """Defect per input row ('' = none)."""
        kinds = np.full(n, "", dtype=object)
        if self.defect_rate <= 0:
            return kinds
        chosen = np.flatnonzero(rng.random(n) < self.defect_rate)
        if ex.protect is not None:
            chosen = chosen[~ex.protect[chosen]]
        if ex.cascade is not None:
            chosen = chosen[~ex.cascade[0][chosen]]
        if chosen.size == 0:
            return kinds
        inv = np.empty(n, np.int64)
        inv[order] = np.arange(n)  # input row -> sorted row
        elig = np.zeros((chosen.size, len(DEFECT_TYPES)), dtype=bool)
        has_id = _id_column(ft) is not None
        elig[:, 0] = has_id
        elig[:, 1] = bool(_date_columns(ft))
        if ex.unknown is not None:
            elig[:, 2] = pc.is_valid(ex.unknown[1]).to_numpy(zero_copy_only=False)[chosen]
        elig[:, 3] = True
        elig[:, 4] = True
        if ft.encoding == "latin-1":
            text = pc.binary_join_element_wise(*[pc.fill_null(cols[c], "") for c in ft.column_names], "")
            non_ascii = ~pc.string_is_ascii(text).to_numpy(zero_copy_only=False)
            elig[:, 5] = non_ascii[inv[chosen]]
        if ex.orphan is not None:
            elig[:, DEFECT_TYPES.index(ex.orphan[1])] = True
        elig[:, 8] = has_id and ex.temp_ids is not None
        score = np.where(elig, rng.random(elig.shape), -1.0)
        kinds[chosen] = np.array(DEFECT_TYPES, dtype=object)[np.argmax(score, axis=1)]
        return kinds

    def _field_defects(self, ft: FileType, cols: dict[str, pa.Array], kinds: np.ndarray, details: np.ndarray,
                       column: np.ndarray, ex: Extras, order: np.ndarray,
                       rng: np.random.Generator) -> dict[str, pa.Array]:
        """Apply the defects that change one field (rows in sorted order)."""
        idcol = _id_column(ft)
        rows = np.flatnonzero(kinds == "invalid_national_id")
        if rows.size:
            old = np.array(cols[idcol].take(pa.array(rows)).to_pylist(), dtype="U11")
            new, how = _invalidate_hetus(old, rng)
            cols[idcol] = _replace(cols[idcol], rows, list(new))
            details[rows], column[rows] = how, idcol
        rows = np.flatnonzero(kinds == "temporary_id")
        if rows.size:
            temp = ex.temp_ids(order[rows])
            cols[idcol] = _replace(cols[idcol], rows, temp.to_pylist())
            details[rows], column[rows] = "temporary individual number (900-999)", idcol
        rows = np.flatnonzero(kinds == "impossible_date")
        if rows.size:
            cands = _date_columns(ft)
            which = rng.integers(0, len(cands), rows.size)
            for j, cname in enumerate(cands):  # candidate columns, not rows
                r = rows[which == j]
                if r.size == 0:
                    continue
                old = cols[cname].take(pa.array(r)).to_pylist()
                if next(c.kind for c in ft.columns if c.name == cname) == "iso_date":
                    pat = rng.integers(0, len(_IMPOSSIBLE_ISO_MMDD), r.size)
                    new = [o[:4] + _IMPOSSIBLE_ISO_MMDD[p] for o, p in zip(old, pat)]
                else:
                    pat = rng.integers(0, len(_IMPOSSIBLE_DDMM), r.size)
                    new = [_IMPOSSIBLE_DDMM[p] + o[5:] for o, p in zip(old, pat)]
                cols[cname] = _replace(cols[cname], r, new)
                details[r] = [v[:10] for v in new]
                column[r] = cname
        rows = np.flatnonzero(kinds == "unknown_code")
        if rows.size:
            cname, repl = ex.unknown
            new = repl.take(pa.array(order[rows])).to_pylist()
            cols[cname] = _replace(cols[cname], rows, new)
            details[rows], column[rows] = new, cname
        if ex.orphan is not None:
            cname, defect, repl = ex.orphan
            rows = np.flatnonzero(kinds == defect)
            if rows.size:
                cols[cname] = _replace(cols[cname], rows, repl.take(pa.array(order[rows])).to_pylist())
                details[rows] = "id matches no " + ("episode" if defect == "orphan_diagnosis" else "visit")
                column[rows] = cname
        return cols

    # ----------------------------------------------------------------- output
    def _append(self, ft: FileType, lines: pa.Array, periods: np.ndarray, kinds: np.ndarray, details: np.ndarray,
                column: np.ndarray, cascade: np.ndarray, ex: Extras) -> None:
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset: lines.offset + len(lines) + 1]
        data = memoryview(lines.buffers()[2])
        bounds = np.flatnonzero(np.diff(periods)) + 1
        starts = np.r_[0, bounds]
        ends = np.r_[bounds, len(lines)]
        enc = ft.encoding
        for a, b in zip(starts.tolist(), ends.tolist()):  # periods (files), not rows
            name = ft.file_name(int(periods[a])) if ft.period == "year" else ft.file_name()
            st = self.files[name]
            seg = kinds[a:b]
            pieces: list[bytes] = []
            cut = a
            for r in (np.flatnonzero(seg == "wrong_encoding") + a).tolist():  # the few wrong-encoding rows
                if r > cut:
                    pieces.append(_encode(data[offsets[cut]: offsets[r]], enc))
                pieces.append(bytes(data[offsets[r]: offsets[r + 1]]))  # left as UTF-8
                cut = r + 1
            if b > cut:
                pieces.append(_encode(data[offsets[cut]: offsets[b]], enc))
            with open(self.out_dir / name, "ab") as fh:
                fh.writelines(pieces)
            for r in (np.flatnonzero(seg != "") + a).tolist():  # defect rows only
                d = kinds[r]
                if d == "duplicate_row":
                    det, col = f"copy of line {st.lines + (r - a)}", ""
                elif d == "wrong_encoding":
                    det, col = "UTF-8 line in a Latin-1 file", ""
                else:
                    det, col = str(details[r]), str(column[r])
                self.defects.append(DefectRecord(name, st.lines + (r - a) + 1, d, col, det))
            if ex.cascade is not None:
                _, defect, cname = ex.cascade
                for r in (np.flatnonzero(cascade[a:b]) + a).tolist():  # orphaned child rows only
                    self.defects.append(DefectRecord(name, st.lines + (r - a) + 1, defect, cname,
                                                     "parent quarantined"))
            st.lines += b - a

    def close(self) -> None:
        """Write ``_ground_truth/defects.csv`` (UTF-8, sorted by file and line)."""
        gt = self.out_dir / "_ground_truth"
        gt.mkdir(exist_ok=True)
        with open(gt / "defects.csv", "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(GT_COLUMNS)
            for d in sorted(self.defects, key=lambda d: (d.file, d.line)):
                stage, reason = d.expected
                w.writerow([d.file, d.line, d.defect, d.column, stage, reason, d.detail])


# --------------------------------------------------------------------- helpers
def _id_column(ft: FileType) -> str | None:
    return next((c.name for c in ft.columns if c.kind == "hetu"), None)


def _date_columns(ft: FileType) -> list[str]:
    return [c.name for c in ft.columns if c.required and c.kind in ("fi_date", "iso_date")]


def _encode(mv: memoryview, encoding: str) -> bytes:
    raw = bytes(mv)
    if encoding in ("utf-8", "utf8") or raw.isascii():
        return raw
    return raw.decode("utf-8").encode(encoding)


def _replace(arr: pa.Array, rows: np.ndarray, values: list[str]) -> pa.Array:
    """``arr`` with ``rows`` (increasing) replaced by ``values``."""
    mask = np.zeros(len(arr), dtype=bool)
    mask[rows] = True
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    return pc.replace_with_mask(arr, pa.array(mask), pa.array([str(v) for v in values], pa.string()))


def _invalidate_hetus(codes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Invalid variants of valid codes: wrong check character, impossible date (check recomputed)
    or a character that is no century sign.  Returns (codes, how)."""
    n = codes.size
    b = codes.view("U1").reshape(n, 11).copy()
    how = rng.integers(0, 3, n)
    # 0: another check character
    r = np.flatnonzero(how == 0)
    if r.size:
        pos = np.array([CHECK_CHARS.index(c) for c in b[r, 10]])
        b[r, 10] = np.array(list(CHECK_CHARS))[(pos + rng.integers(1, 31, r.size)) % 31]
    # 1: impossible date with a matching check character
    r = np.flatnonzero(how == 1)
    if r.size:
        ddmm = np.array(_BAD_DATES)[rng.integers(0, len(_BAD_DATES), r.size)]
        b[r, :4] = ddmm.view("U1").reshape(r.size, 4)
        digits = np.array(["".join(x) for x in b[r][:, [0, 1, 2, 3, 4, 5, 7, 8, 9]]])
        b[r, 10] = [CHECK_CHARS[int(x) % 31] for x in digits]
    # 2: no century sign
    r = np.flatnonzero(how == 2)
    if r.size:
        b[r, 6] = _BAD_SIGNS[rng.integers(0, _BAD_SIGNS.size, r.size)]
    labels = np.array(["wrong check character", "impossible date in the code", "invalid century sign"], dtype=object)
    return np.ascontiguousarray(b).view("U11").reshape(n), labels[how]
