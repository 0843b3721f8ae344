"""Compare the result packages of one study across sites (docs/studies.md, "Compare").

:func:`load_package` reads one site's package (``study.json``, ``concept_sets.json``,
``results/*.csv``) and checks what the report relies on; :func:`write_comparison` puts
packages of the same study side by side::

    OUT/index.html          self-contained page (inline CSS, no scripts)
    OUT/figures/NAME.png    one figure per measure of a known type
    OUT/tables/NAME.csv     each measure's rows of every site, stacked, with a leading ``site`` column

Suppressed cells are empty in the packages and print as ``<t`` with the site's threshold
*t* (a cell may also be suppressed at ``>= t`` to protect another one: the page says so).
Every text from a package is HTML-escaped.  Manifests are not checked here: the caller
(``crossbridge study compare``) verifies each package first (``releases.verify``).

Heavy imports (pandas, numpy, matplotlib) happen inside the functions.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "ALL",
    "VALUE_COLUMNS",
    "CompareError",
    "MeasureResult",
    "StudyPackage",
    "load_package",
    "write_comparison",
]

ALL = "(all)"  # the margin label of a stratum
VALUE_COLUMNS: dict[str, tuple[str, ...]] = {
    "count": ("persons",),
    "feasibility": ("persons",),
    "prevalence": ("cases", "persons", "proportion", "lower", "upper"),
    "drug_utilisation": ("users", "persons", "proportion", "lower", "upper"),
    "incidence": ("events", "person_years", "rate", "lower", "upper"),
    "time_to_event": ("time", "at_risk", "survival", "lower", "upper"),
}
_COUNT_COLUMNS = frozenset({"persons", "cases", "users", "events", "at_risk"})
_SIGNIFICANT_COLUMNS = frozenset({"rate", "proportion", "survival", "lower", "upper"})
_HEADERS = {
    "persons": "persons",
    "cases": "cases",
    "users": "users",
    "events": "events",
    "person_years": "person-years",
    "rate": "rate /1,000 PY",
    "proportion": "proportion",
    "survival": "survival",
    "at_risk": "at risk",
    "time": "time (days)",
    "period": "period",
    "age_group": "age group",
    "sex": "sex",
}
MAX_SITE_CODES = 20  # codes listed per vocabulary in the concept-set section
FIGURE_DPI = 110
_LINESTYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


class CompareError(ValueError):
    """Packages that cannot be compared (a missing or malformed file, different studies, ...)."""


@dataclass(frozen=True)
class MeasureResult:
    """One measure of one package: ``table`` has the strata as text and the values as floats
    (NaN where suppressed); ``raw`` is the CSV exactly as read (all text, suppressed = '')."""

    name: str
    type: str
    title: str
    file: str
    by: tuple[str, ...]
    columns: tuple[str, ...]
    table: pd.DataFrame = field(repr=False)
    raw: pd.DataFrame = field(repr=False)

    @property
    def value_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.table.columns if c not in self.by)


@dataclass(frozen=True)
class StudyPackage:
    folder: Path
    study_id: str
    title: str
    site: str
    permit: str
    jurisdiction: str
    threshold: int
    spec_sha256: str
    created: str
    cdm_source: dict[str, Any]
    cohort: dict[str, Any] | None
    measures: tuple[MeasureResult, ...]
    concept_sets: dict[str, Any]
    study: dict[str, Any] = field(repr=False, default_factory=dict)

    def measure(self, name: str) -> MeasureResult | None:
        for m in self.measures:
            if m.name == name:
                return m
        return None


# ---------------------------------------------------------------------------------------------------- loading


def _read_json(folder: Path, name: str) -> Any:
    path = folder / name
    if not path.is_file():
        raise CompareError(f"{folder}: no {name} (not a study result package?)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CompareError(f"{path}: not valid JSON ({exc})") from exc


def _text(study: dict, key: str, folder: Path, *, required: bool = False, default: str = "") -> str:
    if key not in study or study[key] is None:
        if required:
            raise CompareError(f"{folder}/study.json: '{key}' is missing")
        return default
    value = study[key]
    if not isinstance(value, str) or (required and not value.strip()):
        raise CompareError(f"{folder}/study.json: '{key}' must be a non-empty string, got {value!r}")
    return value


def _inside(folder: Path, relative: str, where: str) -> Path:
    """``folder / relative``, refusing absolute paths and paths that leave the folder."""
    rel = Path(relative)
    if rel.is_absolute() or ".." in rel.parts:
        raise CompareError(f"{where}: file {relative!r} must be a path inside the package")
    return folder / rel


def _read_results(path: Path, where: str, by: tuple[str, ...], expected: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    import pandas as pd

    if not path.is_file():
        raise CompareError(f"{where}: result file {path} is missing")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[], encoding="utf-8")
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise CompareError(f"{path}: not a readable CSV ({exc})") from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in (*by, *expected) if c not in raw.columns]
    if missing:
        raise CompareError(f"{path}: missing column(s) {', '.join(missing)} (has {', '.join(raw.columns)})")
    if len(set(raw.columns)) != len(raw.columns):
        raise CompareError(f"{path}: repeated column names")
    table = pd.DataFrame(index=raw.index)
    for col in raw.columns:
        text = raw[col].astype(str).str.strip()
        if col in by:
            table[col] = text.astype(object)
            continue
        number = pd.to_numeric(text.where(text != ""), errors="coerce").astype(float)
        bad = number.isna() & (text != "")
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise CompareError(f"{path}: column {col!r}, data row {i + 1}: {text.iloc[i]!r} is not a number")
        table[col] = number
    # the stratum columns first, then the values, as the package format says
    order = [c for c in by] + [c for c in raw.columns if c not in by]
    return table[order].reset_index(drop=True), raw[order].reset_index(drop=True)


def _measure(folder: Path, i: int, m: Any) -> MeasureResult:
    where = f"{folder}/study.json: measures[{i}]"
    if not isinstance(m, dict):
        raise CompareError(f"{where}: must be an object")
    for key in ("name", "type", "file"):
        if not isinstance(m.get(key), str) or not m[key].strip():
            raise CompareError(f"{where}.{key}: missing or not a string")
    by = m.get("by") or []
    if not isinstance(by, list) or not all(isinstance(b, str) and b for b in by) or len(set(by)) != len(by):
        raise CompareError(f"{where}.by: must be a list of distinct stratum names, got {by!r}")
    columns = m.get("columns") or []
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise CompareError(f"{where}.columns: must be a list of column names, got {columns!r}")
    expected = tuple(dict.fromkeys([*VALUE_COLUMNS.get(m["type"], ()), *(c for c in columns if c not in by)]))
    table, raw = _read_results(_inside(folder, m["file"], where), where, tuple(by), expected)
    title = m.get("title") if isinstance(m.get("title"), str) and m.get("title") else m["name"]
    return MeasureResult(m["name"], m["type"], title, m["file"], tuple(by), tuple(columns), table, raw)


def load_package(folder: Path) -> StudyPackage:
    """Read one site's study package; :class:`CompareError` names the folder and what is wrong."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CompareError(f"{folder}: not a folder")
    study = _read_json(folder, "study.json")
    if not isinstance(study, dict):
        raise CompareError(f"{folder}/study.json: must be a JSON object")
    threshold = study.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise CompareError(f"{folder}/study.json: 'threshold' must be a positive integer, got {threshold!r}")
    measures_raw = study.get("measures")
    if not isinstance(measures_raw, list) or not measures_raw:
        raise CompareError(f"{folder}/study.json: 'measures' is missing or empty")
    measures = tuple(_measure(folder, i, m) for i, m in enumerate(measures_raw))
    names = [m.name for m in measures]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise CompareError(f"{folder}/study.json: measure {dup!r} appears twice")
    cdm = study.get("cdm_source") or {}
    if not isinstance(cdm, dict):
        raise CompareError(f"{folder}/study.json: 'cdm_source' must be an object")
    cohort = study.get("cohort")
    if cohort is not None and not isinstance(cohort, dict):
        raise CompareError(f"{folder}/study.json: 'cohort' must be an object or null")
    concept_sets = _read_json(folder, "concept_sets.json")
    if not isinstance(concept_sets, dict) or not all(isinstance(v, dict) for v in concept_sets.values()):
        raise CompareError(f"{folder}/concept_sets.json: must map concept-set names to objects")
    site = _text(study, "site", folder, required=True)
    return StudyPackage(
        folder=folder,
        study_id=_text(study, "study_id", folder, required=True),
        title=_text(study, "title", folder),
        site=site,
        permit=_text(study, "permit", folder),
        jurisdiction=_text(study, "jurisdiction", folder, default=site),
        threshold=threshold,
        spec_sha256=_text(study, "spec_sha256", folder),
        created=_text(study, "created", folder),
        cdm_source=cdm,
        cohort=cohort,
        measures=measures,
        concept_sets=concept_sets,
        study=study,
    )


# ---------------------------------------------------------------------------------------------------- helpers


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _file_stem(name: str, used: set[str]) -> str:
    """A safe, unique file name stem for a measure name (which comes from a package)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip("._") or "measure"
    base, n = stem, 2
    while stem.lower() in used:
        stem, n = f"{base}_{n}", n + 1
    used.add(stem.lower())
    return stem


def _significant(value: float, digits: int = 3) -> str:
    if value == 0:
        return "0"
    decimals = digits - 1 - int(math.floor(math.log10(abs(value))))
    if decimals <= 0:
        return f"{value:,.0f}"
    return f"{value:.{decimals}f}"


def _format(col: str, value: float, threshold: int) -> str:
    """One cell as escaped HTML: suppressed (NaN) as ``<t``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"&lt;{threshold}"
    if col in _COUNT_COLUMNS or col == "time":
        return f"{round(value):,}"
    if col == "person_years":
        return f"{value:,.1f}"
    if col in _SIGNIFICANT_COLUMNS:
        return _significant(value)
    return _e(f"{value:g}")


def _mpl(text: Any) -> str:
    """Text for matplotlib: no mathtext from package content."""
    return str(text).replace("$", r"\$")


def _key_columns(measure_type: str, by: Sequence[str]) -> list[str]:
    return [*by, "time"] if measure_type == "time_to_event" else list(by)


def _aligned(frames: dict[str, pd.DataFrame], strata: list[str]) -> dict[str, pd.DataFrame]:
    """Each site's frame with every stratum column (absent ones are margins: '(all)')."""
    return {site: df.assign(**{c: ALL for c in strata if c not in df.columns}) for site, df in frames.items()}


def _ordered_keys(frames: dict[str, pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    """The union of the sites' strata, each stratum column in order of first appearance
    (so a site's extra rows sort next to the other sites' rows of the same stratum), time ascending."""
    import numpy as np
    import pandas as pd

    if not keys:
        return pd.DataFrame(index=[0])
    union = pd.concat([df[keys] for df in frames.values()], ignore_index=True).drop_duplicates(ignore_index=True)
    sort_cols = []
    for col in keys:
        if col == "time":
            sort_cols.append(union[col].to_numpy(dtype=float))
        else:
            codes, _ = pd.factorize(union[col], use_na_sentinel=False)
            sort_cols.append(codes)
    order = np.lexsort(sort_cols[::-1]) if sort_cols else np.arange(len(union))
    return union.iloc[order].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------- figures


def _select(df: pd.DataFrame, strata: Sequence[str], margin: Sequence[str], split: Sequence[str]) -> pd.DataFrame:
    """Rows for a figure: columns in ``margin`` keep their '(all)' rows only (when there are
    any), columns in ``split`` drop their '(all)' rows (unless nothing else is left)."""
    for col in strata:
        if col in margin:
            keep = df[col] == ALL
            if keep.any():
                df = df[keep]
        elif col in split:
            keep = df[col] != ALL
            if keep.any():
                df = df[keep]
    return df


def _series_label(df: pd.DataFrame, cols: Sequence[str]) -> pd.Series:
    import pandas as pd

    if not cols:
        return pd.Series("", index=df.index, dtype=object)
    label = df[cols[0]].astype(str)
    for col in cols[1:]:
        label = label + " · " + df[col].astype(str)
    return label


def _varying(frames: dict[str, pd.DataFrame], cols: Sequence[str]) -> list[str]:
    import pandas as pd

    if not frames:
        return []
    union = pd.concat([df[list(cols)] for df in frames.values()], ignore_index=True)
    return [c for c in cols if union[c].nunique(dropna=False) > 1]


def _style(site_i: int, series_i: int, n_series: int) -> tuple[Any, str, str]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    color = cmap((series_i if n_series > 1 else site_i) % 10)
    return color, _LINESTYLES[site_i % len(_LINESTYLES)], _MARKERS[site_i % len(_MARKERS)]


def _points_figure(ax, frames: dict[str, pd.DataFrame], strata: list[str], value: str, ylabel: str) -> bool:
    """Estimate with 95% CI error bars by age group, one series per site x remaining strata (sex).

    Period: the '(all)' rows (when there are any); age group and sex: the strata, not their margins."""
    import numpy as np
    import pandas as pd

    x_col = "age_group" if "age_group" in strata else None
    chosen = {s: _select(df, strata, ("period",), ("sex", "age_group")) for s, df in frames.items()}
    series_cols = _varying(chosen, [c for c in strata if c != x_col])
    x_labels = list(pd.unique(pd.concat([df[x_col] for df in chosen.values()]))) if x_col else ["all"]
    x_pos = {label: i for i, label in enumerate(x_labels)}
    all_series = list(pd.unique(pd.concat([_series_label(df, series_cols) for df in chosen.values()])))
    n_lines = max(1, len(chosen) * len(all_series))
    width = min(0.6, 0.1 * n_lines)
    drawn, line = False, 0
    for site_i, (site, df) in enumerate(chosen.items()):
        labels = _series_label(df, series_cols)
        for series_i, series in enumerate(all_series):
            part = df[labels == series]
            offset = (line - (n_lines - 1) / 2) * (width / max(1, n_lines - 1)) if n_lines > 1 else 0.0
            line += 1
            if part.empty:
                continue
            x = (part[x_col].map(x_pos).to_numpy(dtype=float) if x_col else np.zeros(len(part))) + offset
            y = part[value].to_numpy(dtype=float)
            lo = part["lower"].to_numpy(dtype=float) if "lower" in part else np.full_like(y, np.nan)
            hi = part["upper"].to_numpy(dtype=float) if "upper" in part else np.full_like(y, np.nan)
            yerr = np.vstack([np.maximum(y - lo, 0.0), np.maximum(hi - y, 0.0)])
            yerr = np.where(np.isnan(yerr), 0.0, yerr)
            color, _, marker = _style(site_i, series_i, len(all_series))
            label = _mpl(site if not series else f"{site} · {series}")
            ax.errorbar(x, y, yerr=yerr, fmt=marker, color=color, capsize=3, markersize=5, label=label, linestyle="none")
            drawn = drawn or bool(np.isfinite(y).any())
    ax.set_xticks(range(len(x_labels)), [_mpl(v) for v in x_labels])
    ax.set_xlim(-0.6, len(x_labels) - 0.4)
    ax.set_xlabel("age group" if x_col else "")
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.grid(axis="y", alpha=0.3)
    return drawn


def _bars_figure(ax, frames: dict[str, pd.DataFrame], strata: list[str], x_col: str | None) -> bool:
    """Persons as grouped bars by ``x_col`` (one group per category, one bar per site x series),
    or without ``x_col`` one group per site (one bar per series); margins for the other strata."""
    import numpy as np
    import pandas as pd

    x_col = x_col if x_col in strata else None
    chosen = {s: _select(df, strata, [c for c in strata if c != x_col], (x_col,)) for s, df in frames.items()}
    series_cols = _varying(chosen, [c for c in strata if c != x_col])
    x_labels = list(pd.unique(pd.concat([df[x_col] for df in chosen.values()]))) if x_col else list(chosen)
    x_pos = {label: i for i, label in enumerate(x_labels)}
    all_series = list(pd.unique(pd.concat([_series_label(df, series_cols) for df in chosen.values()])))
    n_bars = max(1, (len(chosen) if x_col else 1) * len(all_series))
    width = 0.8 / n_bars
    drawn, bar = False, 0
    for site_i, (site, df) in enumerate(chosen.items()):
        labels = _series_label(df, series_cols)
        if not x_col:
            bar = 0  # each site is its own group
        for series_i, series in enumerate(all_series):
            part = df[labels == series]
            shift = (bar - (n_bars - 1) / 2) * width
            bar += 1
            if part.empty:
                continue
            base = part[x_col].map(x_pos).to_numpy(dtype=float) if x_col else np.full(len(part), float(site_i))
            y = part["persons"].to_numpy(dtype=float)
            color, _, _ = _style(site_i, series_i, len(all_series))
            label = _mpl(site if not series else f"{site} · {series}")
            ax.bar(base + shift, np.nan_to_num(y, nan=0.0), width=width * 0.95, color=color, label=label)
            drawn = drawn or bool(np.isfinite(y).any())
    ax.set_xticks(range(len(x_labels)), [_mpl(v) for v in x_labels])
    ax.set_xlim(-0.6, len(x_labels) - 0.4)
    ax.set_xlabel(_HEADERS.get(x_col, x_col) if x_col else "site")
    ax.set_ylabel("persons")
    ax.grid(axis="y", alpha=0.3)
    return drawn


def _survival_figure(ax, frames: dict[str, pd.DataFrame], strata: list[str]) -> bool:
    """Kaplan-Meier step curves with shaded 95% CI, one line per site x stratum."""
    import numpy as np
    import pandas as pd

    chosen = {s: _select(df, strata, (), strata) for s, df in frames.items()}
    series_cols = _varying(chosen, strata)
    all_series = list(pd.unique(pd.concat([_series_label(df, series_cols) for df in chosen.values()])))
    drawn = False
    for site_i, (site, df) in enumerate(chosen.items()):
        labels = _series_label(df, series_cols)
        for series_i, series in enumerate(all_series):
            part = df[labels == series].sort_values("time", kind="stable")
            if part.empty:
                continue
            t = part["time"].to_numpy(dtype=float)
            s = part["survival"].to_numpy(dtype=float)
            color, linestyle, _ = _style(site_i, series_i, len(all_series))
            label = _mpl(site if not series else f"{site} · {series}")
            ax.step(t, s, where="post", color=color, linestyle=linestyle, label=label)
            if "lower" in part and "upper" in part:
                ax.fill_between(t, part["lower"].to_numpy(dtype=float), part["upper"].to_numpy(dtype=float),
                                step="post", color=color, alpha=0.15, linewidth=0)
            drawn = drawn or bool(np.isfinite(s).any())
    ax.set_ylim(0, 1.02)  # 0 to 1; the margin keeps S = 1 visible above the frame
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_xlim(left=0)
    ax.set_xlabel("days since cohort entry")
    ax.set_ylabel("survival (no event)")
    ax.grid(alpha=0.3)
    return drawn


def _figure(measure_type: str, title: str, frames: dict[str, pd.DataFrame], strata: list[str], path: Path) -> bool:
    """Draw one measure's figure into ``path``; False (nothing written) for an unknown type."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if measure_type not in VALUE_COLUMNS or not frames:
        return False
    needed = {"incidence": "rate", "prevalence": "proportion", "drug_utilisation": "proportion",
              "count": "persons", "feasibility": "persons", "time_to_event": "survival"}[measure_type]
    if not all(needed in df.columns for df in frames.values()):
        return False
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    try:
        if measure_type == "incidence":
            drawn = _points_figure(ax, frames, strata, "rate", "incidence per 1,000 person-years (95% CI)")
        elif measure_type in ("prevalence", "drug_utilisation"):
            drawn = _points_figure(ax, frames, strata, "proportion", "proportion (95% CI)")
        elif measure_type == "count":
            drawn = _bars_figure(ax, frames, strata, "age_group")
        elif measure_type == "feasibility":
            drawn = _bars_figure(ax, frames, strata, None)
        else:
            drawn = _survival_figure(ax, frames, strata)
        ax.set_title(_mpl(title), fontsize=11)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        if not drawn:
            ax.text(0.5, 0.5, "no published values", transform=ax.transAxes, ha="center", va="center", color="#777")
        fig.savefig(path, dpi=FIGURE_DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return True


# ---------------------------------------------------------------------------------------------------- report

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5rem auto;max-width:1200px;
 padding:0 1rem;color:#1d2330;line-height:1.4}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2.2rem;border-bottom:1px solid #d5d9e0;
 padding-bottom:.2rem}h3{font-size:1rem;margin:1.2rem 0 .3rem}
.meta{color:#555;font-size:.9rem}code{font-size:.85rem}
.warn{border:1px solid #c77700;background:#fff6e5;padding:.5rem .8rem;border-radius:.3rem;margin:.8rem 0}
table{border-collapse:collapse;margin:.5rem 0;font-size:.86rem}
th,td{border:1px solid #d5d9e0;padding:.2rem .45rem;text-align:left;vertical-align:top}
th{background:#f1f3f6}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.sup{color:#8a5a00;text-align:right}th.site{text-align:center}
.scroll{overflow-x:auto}img{max-width:100%;height:auto;display:block;margin:.6rem 0 1rem}
ul.codes{margin:.1rem 0;padding-left:1.1rem}.note{color:#555;font-size:.85rem}
"""


def _sites_section(packages: Sequence[StudyPackage]) -> str:
    rows = "".join(
        "<tr>"
        f"<td><strong>{_e(p.site)}</strong></td><td>{_e(p.permit)}</td><td>{_e(p.jurisdiction)}</td>"
        f"<td class=num>{p.threshold:,}</td><td>{_e(p.cdm_source.get('name', ''))}</td>"
        f"<td>{_e(p.cdm_source.get('vocabulary_version', ''))}</td><td>{_e(p.created)}</td>"
        f"<td><code>{_e(p.spec_sha256[:12])}</code></td>"
        "</tr>"
        for p in packages
    )
    return (
        "<h2>Sites</h2><table><thead><tr><th>site</th><th>permit</th><th>jurisdiction</th>"
        "<th class=num>threshold</th><th>CDM source</th><th>vocabulary version</th><th>created</th>"
        f"<th>specification</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _display_columns(value_cols: Sequence[str]) -> list[str]:
    """Value columns shown per site: lower and upper become one '95% CI' column."""
    cols = [c for c in value_cols if c not in ("lower", "upper")]
    if "lower" in value_cols and "upper" in value_cols:
        cols.append("ci")
    else:
        cols += [c for c in ("lower", "upper") if c in value_cols]
    return cols


def _cells(col: str, df: pd.DataFrame, threshold: int, present: pd.Series) -> list[str]:
    """One site's cells of one display column, as escaped HTML (with the td tag)."""
    import numpy as np

    if col == "ci":
        lo, hi = df["lower"].to_numpy(dtype=float), df["upper"].to_numpy(dtype=float)
        out = []
        for row_present, a, b in zip(present.to_numpy(), lo, hi, strict=True):
            if not row_present:
                out.append("<td class=num>–</td>")
            elif np.isnan(a) or np.isnan(b):
                out.append(f"<td class=sup>&lt;{threshold}</td>")
            else:
                out.append(f"<td class=num>{_format('lower', a, threshold)}–{_format('upper', b, threshold)}</td>")
        return out
    values = df[col].to_numpy(dtype=float) if col in df.columns else np.full(len(df), np.nan)
    return [
        "<td class=num>–</td>" if not row_present
        else f"<td class=sup>&lt;{threshold}</td>" if np.isnan(v)
        else f"<td class=num>{_format(col, v, threshold)}</td>"
        for row_present, v in zip(present.to_numpy(), values, strict=True)
    ]


def _measure_table(results: dict[str, MeasureResult], thresholds: dict[str, int], keys: list[str],
                   strata: list[str]) -> str:
    frames = _aligned({s: r.table for s, r in results.items()}, strata)
    ordered = _ordered_keys(frames, keys)
    value_cols = list(dict.fromkeys(c for r in results.values() for c in r.value_columns if c not in keys))
    shown = _display_columns(value_cols)
    columns_html: list[list[str]] = []  # one list of cells per (site, shown column)
    for site, df in frames.items():
        df = df.drop_duplicates(subset=keys, keep="first") if keys else df.iloc[:1]
        merged = ordered.merge(df.assign(_present=True), on=keys, how="left") if keys else \
            df.assign(_present=True).reset_index(drop=True).reindex(range(len(ordered)))
        present = merged["_present"].fillna(False).astype(bool)
        for col in shown:
            columns_html.append(_cells(col, merged, thresholds[site], present))
    key_cells = [[f"<td>{_e(v)}</td>" if k != "time" else f"<td class=num>{_format('time', v, 0)}</td>"
                  for v in ordered[k]] for k in keys]
    body = "".join(
        "<tr>" + "".join(col[i] for col in key_cells) + "".join(col[i] for col in columns_html) + "</tr>"
        for i in range(len(ordered))
    )
    head1 = "".join(f"<th rowspan=2>{_e(_HEADERS.get(k, k))}</th>" for k in keys)
    head1 += "".join(f"<th class=site colspan={len(shown)}>{_e(site)}</th>" for site in frames)
    head2 = "".join(
        f"<th class=num>{_e('95% CI' if c == 'ci' else _HEADERS.get(c, c))}</th>" for _ in frames for c in shown
    )
    return (f"<div class=scroll><table><thead><tr>{head1}</tr><tr>{head2}</tr></thead>"
            f"<tbody>{body}</tbody></table></div>")


def _coverage_cell(entry: dict[str, Any], threshold: int) -> str:
    coverage = entry.get("coverage")
    if not isinstance(coverage, dict):
        return "<span class=note>no coverage</span>"

    def count(v: Any) -> str:
        if v is None:
            return f"&lt;{threshold}"
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return f"{v:,.0f}"
        return _e(v)

    rows = [f"<tr><th>records</th><td class=num>{count(coverage.get('records'))}</td></tr>"]
    by_vocab = coverage.get("by_source_vocabulary") or {}
    if isinstance(by_vocab, dict):
        rows += [f"<tr><td>{_e(k)}</td><td class=num>{count(v)}</td></tr>" for k, v in by_vocab.items()]
    missed = coverage.get("missed") or {}
    if isinstance(missed, dict) and missed:
        rows.append("<tr><th colspan=2>missed (source code of the set, standard concept outside it)</th></tr>")
        rows += [f"<tr><td>{_e(k)}</td><td class=num>{count(v)}</td></tr>" for k, v in missed.items()]
    elif isinstance(missed, dict):
        rows.append("<tr><td>missed</td><td class=num>0</td></tr>")
    return f"<table>{''.join(rows)}</table>"


def _standard_cell(entry: dict[str, Any]) -> str:
    concepts = entry.get("standard_concepts") or []
    if not isinstance(concepts, list) or not concepts:
        return "<span class=note>none</span>"
    items = "".join(
        f"<li><code>{_e(c.get('concept_id'))}</code> {_e(c.get('name'))}"
        f" <span class=note>{_e(c.get('vocabulary_id', ''))} {_e(c.get('domain_id', ''))}</span></li>"
        if isinstance(c, dict) else f"<li>{_e(c)}</li>"
        for c in concepts
    )
    return f"<details><summary>{len(concepts):,} standard concept(s)</summary><ul class=codes>{items}</ul></details>"


def _site_codes_cell(entry: dict[str, Any]) -> str:
    site_codes = entry.get("site_codes") or {}
    if not isinstance(site_codes, dict) or not site_codes:
        return "<span class=note>none</span>"
    parts = []
    for vocab, codes in site_codes.items():
        codes = codes if isinstance(codes, list) else []
        listed = ", ".join(
            f"<code title=\"{_e(c.get('name', ''))}\">{_e(c.get('code'))}</code>" if isinstance(c, dict)
            else f"<code>{_e(c)}</code>"
            for c in codes[:MAX_SITE_CODES]
        )
        more = f", … {len(codes) - MAX_SITE_CODES:,} more" if len(codes) > MAX_SITE_CODES else ""
        parts.append(f"<li><strong>{_e(vocab)}</strong> ({len(codes):,} codes): {listed}{more}</li>")
    return f"<ul class=codes>{''.join(parts)}</ul>"


def _concept_sets_section(packages: Sequence[StudyPackage]) -> str:
    names = list(dict.fromkeys(n for p in packages for n in p.concept_sets))
    out = ["<h2>Concept sets and coverage</h2>",
           "<p class=note>Per site: the standard concepts the set resolved to in the site's vocabulary, the site's "
           "source codes that map into it, and the records by the vocabulary of their source concept. "
           "A difference between sites may come from coding.</p>"]
    for name in names:
        first = next(p.concept_sets[name] for p in packages if name in p.concept_sets)
        codes = first.get("codes") or []
        codes_text = ", ".join(str(c) for c in codes) if isinstance(codes, list) else str(codes)
        out.append(
            f"<h3>{_e(name)}</h3><p class=meta>system <code>{_e(first.get('system', ''))}</code>, codes "
            f"<code>{_e(codes_text)}</code>, descendants {'included' if first.get('include_descendants', True) else 'not included'}</p>"
        )
        rows = []
        for p in packages:
            entry = p.concept_sets.get(name)
            if entry is None:
                rows.append(f"<tr><td><strong>{_e(p.site)}</strong></td><td colspan=3 class=note>not in this package</td></tr>")
                continue
            rows.append(f"<tr><td><strong>{_e(p.site)}</strong></td><td>{_standard_cell(entry)}</td>"
                        f"<td>{_site_codes_cell(entry)}</td><td>{_coverage_cell(entry, p.threshold)}</td></tr>")
        out.append("<div class=scroll><table><thead><tr><th>site</th><th>standard concepts</th>"
                   "<th>site codes by vocabulary</th><th>coverage (records)</th></tr></thead>"
                   f"<tbody>{''.join(rows)}</tbody></table></div>")
    return "".join(out)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _stacked_table(results: dict[str, MeasureResult], strata: list[str]) -> pd.DataFrame:
    """All sites' rows as published (text), stacked, with a leading site column."""
    import pandas as pd

    raws = _aligned({s: r.raw for s, r in results.items()}, strata)
    columns = ["site", *strata]
    for r in results.values():
        columns += [c for c in r.raw.columns if c not in columns]
    parts = [df.assign(site=site).reindex(columns=columns) for site, df in raws.items()]
    return pd.concat(parts, ignore_index=True).fillna("")


def write_comparison(folders: Sequence[Path], out: Path) -> Path:
    """Compare the packages in ``folders`` (one per site, same study) into ``out``; returns ``out/index.html``."""
    folders = [Path(f) for f in folders]
    if not folders:
        raise CompareError("no study packages to compare")
    packages = [load_package(f) for f in folders]
    ids = {p.study_id for p in packages}
    if len(ids) > 1:
        listing = ", ".join(f"{p.folder}: {p.study_id!r}" for p in packages)
        raise CompareError(f"packages of different studies cannot be compared ({listing})")
    seen: dict[str, Path] = {}
    for p in packages:
        if p.site in seen:
            raise CompareError(f"site {p.site!r} appears twice ({seen[p.site]} and {p.folder})")
        seen[p.site] = p.folder

    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    thresholds = {p.site: p.threshold for p in packages}

    warnings: list[str] = []
    shas = {p.spec_sha256 for p in packages}
    if len(shas) > 1:
        warnings.append("The sites ran different versions of the specification (spec_sha256: " + ", ".join(
            f"{p.site} {p.spec_sha256[:12] or '(none)'}" for p in packages) + "): results may not be comparable.")

    measure_names = list(dict.fromkeys(m.name for p in packages for m in p.measures))
    used: set[str] = set()
    sections = []
    for name in measure_names:
        results = {p.site: m for p in packages if (m := p.measure(name)) is not None}
        first = next(iter(results.values()))
        absent = [p.site for p in packages if p.site not in results]
        notes = []
        if absent:
            notes.append(f"not in the package of {', '.join(absent)}")
            warnings.append(f"Measure {name!r} is not in the package of {', '.join(absent)}.")
        types = {r.type for r in results.values()}
        if len(types) > 1:
            warnings.append(f"Measure {name!r} has different types at different sites ({', '.join(sorted(types))}).")
        strata = list(dict.fromkeys(c for r in results.values() for c in r.by))
        keys = _key_columns(first.type, strata)
        if first.type == "time_to_event" and not all("time" in r.table.columns for r in results.values()):
            keys = strata
        stem = _file_stem(name, used)
        _stacked_table(results, strata).to_csv(out / "tables" / f"{stem}.csv", index=False)
        frames = _aligned({s: r.table for s, r in results.items()}, strata)
        has_figure = len(types) == 1 and _figure(first.type, first.title, frames, strata, out / "figures" / f"{stem}.png")
        figure = (f'<img src="figures/{_e(stem)}.png" alt="{_e(first.title)}">' if has_figure
                  else "<p class=note>No figure for this measure type.</p>")
        sections.append(
            f"<h2 id=\"m-{_e(stem)}\">{_e(first.title)}</h2>"
            f"<p class=meta><code>{_e(name)}</code> · {_e(first.type)}"
            + (f" · strata: {_e(', '.join(strata))}" if strata else "")
            + "".join(f" · {_e(n)}" for n in notes)
            + f" · <a href=\"tables/{_e(stem)}.csv\">CSV</a></p>"
            + _measure_table(results, thresholds, keys, strata)
            + figure
        )

    head = packages[0]
    title = head.title or head.study_id
    cohort = head.cohort.get("name") if isinstance(head.cohort, dict) else None
    warn_html = "".join(f"<div class=warn>{_e(w)}</div>" for w in warnings)
    page = (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content=\"width=device-width, initial-scale=1\">"
        f"<title>{_e(title)} – comparison</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1>"
        f"<p class=meta>study <code>{_e(head.study_id)}</code> · {len(packages)} site(s): "
        f"{_e(', '.join(p.site for p in packages))}"
        + (f" · cohort: {_e(cohort)}" if cohort else "")
        + "</p>"
        + warn_html
        + _sites_section(packages)
        + "<p class=note>Suppressed values are shown as &lt;<em>t</em> with the site's threshold <em>t</em>: "
        "the count was below <em>t</em>, or was suppressed to protect another cell, and estimates based on "
        "it are not published. – : no such row at that site. Rates per 1,000 person-years; intervals 95%.</p>"
        + "".join(sections)
        + _concept_sets_section(packages)
        + "</body></html>\n"
    )
    index = out / "index.html"
    _write_atomic(index, page)
    return index
