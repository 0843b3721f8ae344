"""Chunked CSV writer for the synthetic Taiwan extracts, with defect injection.

The generator hands whole columns (pyarrow string arrays, unpadded) to
:class:`TaiwanFileSink`; the sink pads code columns, injects defects, joins the
fields into lines with pyarrow, splits the chunk by period (month / year) and
appends the encoded bytes to the right file.  No Python loop runs over rows,
except over the (few) rows that receive a line-level defect.

The ground truth of every injected defect (file, physical line, defect, column,
expected stage and reason) is collected and written by :meth:`TaiwanFileSink.close`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connectors.taiwan.layout import FileType
from crossbridge.synth.common import SynthWriteError

DEFECT_TYPES = (
    "invalid_national_id",
    "impossible_date",
    "unknown_code",
    "duplicate_row",
    "truncated_line",
    "wrong_encoding",
)
_TEXT_FILES = ("hosb", "drug", "bb_participant")  # files whose lines carry Chinese text
_IMPOSSIBLE_MMDD = ("0230", "0231", "0431", "0631", "0931", "1131", "1301", "0015")
_IMPOSSIBLE_ROC_MMDD = ("/02/30", "/02/31", "/04/31", "/13/01", "/00/15")
_BAD_SECOND = np.array(list("034567"))


@dataclass(frozen=True)
class DefectRecord:
    file: str
    line: int
    defect: str
    column: str
    expected_stage: str
    expected_reason: str


@dataclass
class _FileState:
    lines: int = 1  # physical lines written so far (header = line 1)


@dataclass
class TaiwanFileSink:
    """Appends formatted chunks to the per-period files of ``out_dir``.

    ``defect_rate``: share of data rows that receive exactly one injected defect.
    """

    out_dir: Path
    encoding: str
    defect_rate: float
    rng: np.random.Generator
    files: dict[str, _FileState] = field(default_factory=dict)
    defects: list[DefectRecord] = field(default_factory=list)

    # ------------------------------------------------------------------ files
    def create(self, ft: FileType, periods: list[int | None]) -> None:
        """Create the files of ``ft`` for the given periods with their header line."""
        header = (",".join(ft.column_names) + "\n").encode("ascii")
        for p in periods:
            name = self._name(ft, p)
            (self.out_dir / name).write_bytes(header)
            self.files[name] = _FileState()

    @staticmethod
    def _name(ft: FileType, period: int | None) -> str:
        if ft.period == "month":
            return ft.file_name(period // 100, period % 100)
        if ft.period == "year":
            return ft.file_name(period)
        return ft.file_name()

    def rows_per_file(self) -> dict[str, int]:
        return {name: st.lines - 1 for name, st in sorted(self.files.items())}

    # ------------------------------------------------------------------ write
    def write(
        self,
        ft: FileType,
        cols: dict[str, pa.Array],
        periods: np.ndarray | None = None,
        unknown: list[tuple[str, pa.Array]] | None = None,
    ) -> None:
        """Format and append one chunk.

        ``cols``: every layout column as a string array (nulls = empty, codes unpadded).
        ``periods``: per row ROC ``yyymm`` (monthly files) or ROC year (yearly files).
        ``unknown``: [(column, per-row replacement code or null)] for the unknown_code defect;
        a row is eligible when one of them is non-null (the first non-null one is used).
        """
        missing = [c for c in ft.column_names if c not in cols]
        if missing:
            raise SynthWriteError(f"{ft.hwdc_name}: generator gave no values for {missing}")
        n = len(cols[ft.columns[0].name])
        if n == 0:
            return
        if periods is None:
            periods = np.zeros(n, dtype=np.int64)
        periods = np.asarray(periods, dtype=np.int64)
        order = np.argsort(periods, kind="stable")
        if not np.all(order == np.arange(n)):
            take = pa.array(order)
            cols = {k: v.take(take) for k, v in cols.items()}
            if unknown:
                unknown = [(c, v.take(take)) for c, v in unknown]
            periods = periods[order]

        cols = {k: cols[k] for k in ft.column_names}
        kinds = self._choose_defects(ft, n, cols, unknown)
        cols = self._field_defects(ft, cols, kinds, unknown)
        for c in ft.columns:
            arr = cols[c.name]
            if arr.type != pa.string():
                arr = arr.cast(pa.string())
            if c.kind == "code" and c.width:
                arr = pc.utf8_rpad(arr, c.width, " ")
            cols[c.name] = pc.fill_null(arr, "")
        lines = pc.binary_join_element_wise(*cols.values(), ",")

        # line-level defects
        trunc = np.flatnonzero(kinds == "truncated_line")
        if trunc.size:
            old = lines.take(pa.array(trunc)).to_pylist()
            k = self.rng.integers(1, max(2, min(4, len(ft.columns) - 3)), size=trunc.size)
            new = [",".join(s.split(",")[: len(ft.columns) - int(kk)]) for s, kk in zip(old, k)]
            mask = np.zeros(n, dtype=bool)
            mask[trunc] = True
            lines = pc.replace_with_mask(lines, pa.array(mask), pa.array(new, pa.string()))
        dup = kinds == "duplicate_row"
        idx = np.repeat(np.arange(n), 1 + dup.astype(np.int64))
        is_dup = np.zeros(idx.size, dtype=bool)
        is_dup[np.flatnonzero(np.diff(idx, prepend=-1) == 0)] = True
        if dup.any():
            lines = lines.take(pa.array(idx))
        kinds_out = kinds[idx].copy()
        kinds_out[~is_dup & (kinds_out == "duplicate_row")] = ""
        periods = periods[idx]
        lines = pc.binary_join_element_wise(lines, pa.scalar(""), "\n")
        self._append(ft, lines, periods, kinds_out)

    # --------------------------------------------------------------- defects
    def _choose_defects(
        self, ft: FileType, n: int, cols: dict[str, pa.Array], unknown: list[tuple[str, pa.Array]] | None
    ) -> np.ndarray:
        kinds = np.full(n, "", dtype=object)
        if self.defect_rate <= 0:
            return kinds
        chosen = np.flatnonzero(self.rng.random(n) < self.defect_rate)
        if chosen.size == 0:
            return kinds
        elig = np.zeros((chosen.size, len(DEFECT_TYPES)), dtype=bool)
        if any(c.kind == "national_id" for c in ft.columns):
            elig[:, 0] = True
        if self._date_columns(ft):
            elig[:, 1] = True
        if unknown:
            ok = np.zeros(n, dtype=bool)
            for _, vals in unknown:  # loop over candidate columns
                ok |= pc.is_valid(vals).to_numpy(zero_copy_only=False)
            if "APPL_TYPE" in cols:  # supplementary claims copy their original's codes: keep them copies
                ok &= pc.fill_null(pc.not_equal(cols["APPL_TYPE"], "2"), True).to_numpy(zero_copy_only=False)
            elig[:, 2] = ok[chosen]
        elig[:, 3] = True
        elig[:, 4] = True
        if ft.key in _TEXT_FILES:
            elig[:, 5] = True
        score = np.where(elig, self.rng.random(elig.shape), -1.0)
        kinds[chosen] = np.array(DEFECT_TYPES, dtype=object)[np.argmax(score, axis=1)]
        return kinds

    @staticmethod
    def _date_columns(ft: FileType) -> list[str]:
        """Required Western/ROC date columns (preferring non-key ones)."""
        cands = [c.name for c in ft.columns if c.required and c.kind in ("date", "roc_date")]
        non_key = [c for c in cands if c != "APPL_DATE"]
        return non_key or cands

    def _field_defects(
        self,
        ft: FileType,
        cols: dict[str, pa.Array],
        kinds: np.ndarray,
        unknown: list[tuple[str, pa.Array]] | None,
    ) -> dict[str, pa.Array]:
        n = kinds.size
        self._pending: list[tuple[int, str, str]] = []  # (row, defect, column)
        # invalid national id
        rows = np.flatnonzero(kinds == "invalid_national_id")
        if rows.size:
            col = next(c.name for c in ft.columns if c.kind == "national_id")
            ids = np.array(cols[col].take(pa.array(rows)).to_pylist(), dtype="U10")
            b = ids.view("U1").reshape(-1, 10).copy()
            bad_fmt = self.rng.random(rows.size) < 0.35
            b[bad_fmt, 1] = _BAD_SECOND[self.rng.integers(0, _BAD_SECOND.size, bad_fmt.sum())]
            last = b[~bad_fmt, 9].astype(np.int64)
            b[~bad_fmt, 9] = ((last + self.rng.integers(1, 10, last.size)) % 10).astype("U1")
            new = np.ascontiguousarray(b).reshape(-1).view("U10")
            cols[col] = _replace(cols[col], rows, new, n)
            self._pending += [(int(r), "invalid_national_id", col) for r in rows]
        # impossible date
        rows = np.flatnonzero(kinds == "impossible_date")
        if rows.size:
            cands = self._date_columns(ft)
            which = self.rng.integers(0, len(cands), rows.size)
            for j, cname in enumerate(cands):  # loop over columns
                r = rows[which == j]
                if r.size == 0:
                    continue
                kind = next(c.kind for c in ft.columns if c.name == cname)
                old = np.array(cols[cname].take(pa.array(r)).to_pylist(), dtype=object)
                if kind == "date":
                    pat = np.array(_IMPOSSIBLE_MMDD, dtype=object)[self.rng.integers(0, len(_IMPOSSIBLE_MMDD), r.size)]
                    new = np.array([o[:4] for o in old], dtype=object) + pat
                else:
                    pat = np.array(_IMPOSSIBLE_ROC_MMDD, dtype=object)[
                        self.rng.integers(0, len(_IMPOSSIBLE_ROC_MMDD), r.size)
                    ]
                    new = np.array([o[:3] for o in old], dtype=object) + pat
                cols[cname] = _replace(cols[cname], r, new, n)
                self._pending += [(int(x), "impossible_date", cname) for x in r]
        # unknown code
        rows = np.flatnonzero(kinds == "unknown_code")
        if rows.size:
            todo = np.zeros(n, dtype=bool)
            todo[rows] = True
            for cname, repl in unknown or []:  # loop over candidate columns
                ok = pc.is_valid(repl).to_numpy(zero_copy_only=False)
                r = np.flatnonzero(todo & ok)
                if r.size == 0:
                    continue
                new = repl.take(pa.array(r)).to_pylist()
                cols[cname] = _replace(cols[cname], r, np.array(new, dtype=object), n)
                self._pending += [(int(x), "unknown_code", cname) for x in r]
                todo[r] = False
        return cols

    # ----------------------------------------------------------------- output
    def _append(self, ft: FileType, lines: pa.Array, periods: np.ndarray, kinds: np.ndarray) -> None:
        col_of = {r: c for r, _, c in self._pending}
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
        data = memoryview(lines.buffers()[2])
        bounds = np.flatnonzero(np.diff(periods)) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [len(lines)]])
        src_row = self._source_rows(kinds)  # output row -> chunk row (field-defect columns)
        wrong_other = "utf-8" if self.encoding == "cp950" else "cp950"
        for a, b in zip(starts.tolist(), ends.tolist()):  # loop over periods (files)
            name = self._name(ft, int(periods[a]))
            st = self.files[name]
            seg_kinds = kinds[a:b]
            bad = np.flatnonzero(seg_kinds == "wrong_encoding") + a
            pieces: list[bytes] = []
            cut = a
            for r in bad.tolist():  # rows with a wrong-encoding defect (few)
                if r > cut:
                    pieces.append(self._encode(data[offsets[cut] : offsets[r]]))
                raw = bytes(data[offsets[r] : offsets[r + 1]]).decode("utf-8")
                enc = raw.encode(wrong_other)
                if wrong_other == "cp950":  # must really be undecodable as UTF-8
                    try:
                        enc.decode("utf-8")
                        raise SynthWriteError(f"{name}: CP950 line {r} happens to be valid UTF-8")
                    except UnicodeDecodeError:
                        pass
                pieces.append(enc)
                cut = r + 1
            if b > cut:
                pieces.append(self._encode(data[offsets[cut] : offsets[b]]))
            with open(self.out_dir / name, "ab") as fh:
                fh.writelines(pieces)
            nz = np.flatnonzero(seg_kinds != "")
            for r in (nz + a).tolist():  # defect rows only
                defect = kinds[r]
                line = st.lines + (r - a) + 1
                column = col_of.get(int(src_row[r]), "") if defect in (
                    "invalid_national_id", "impossible_date", "unknown_code") else ""
                if defect == "unknown_code":
                    stage, reason = "terminology", "unmapped_code"
                elif defect == "truncated_line":
                    stage, reason = "quarantine", "wrong_field_count"
                elif defect == "wrong_encoding":
                    stage, reason = "quarantine", ("wrong_encoding" if self.encoding == "cp950" else "undecodable")
                else:
                    stage, reason = "quarantine", defect
                self.defects.append(DefectRecord(name, line, defect, column, stage, reason))
            st.lines += b - a

    @staticmethod
    def _source_rows(kinds: np.ndarray) -> np.ndarray:
        """Output row -> chunk row before duplicates were inserted."""
        is_dup = kinds == "duplicate_row"
        return np.arange(kinds.size) - np.cumsum(is_dup)

    def _encode(self, mv: memoryview) -> bytes:
        raw = bytes(mv)
        if self.encoding == "utf-8" or raw.isascii():
            return raw
        return raw.decode("utf-8").encode(self.encoding)

    def close(self) -> None:
        """Write ``_ground_truth/defects.csv`` (UTF-8)."""
        gt = self.out_dir / "_ground_truth"
        gt.mkdir(exist_ok=True)
        recs = sorted(self.defects, key=lambda d: (d.file, d.line))
        with open(gt / "defects.csv", "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["file", "line", "defect", "column", "expected_stage", "expected_reason"])
            for d in recs:
                w.writerow([d.file, d.line, d.defect, d.column, d.expected_stage, d.expected_reason])

    def defect_counts(self) -> dict[str, int]:
        out = {k: 0 for k in DEFECT_TYPES}
        for d in self.defects:
            out[d.defect] += 1
        return out


def _replace(arr: pa.Array, rows: np.ndarray, values: np.ndarray, n: int) -> pa.Array:
    """``arr`` with ``rows`` replaced by ``values`` (in row order)."""
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    order = np.argsort(rows, kind="stable")
    vals = pa.array([str(v) for v in np.asarray(values)[order]], pa.string())
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    return pc.replace_with_mask(arr, pa.array(mask), vals)
