"""Disclosure control (issue 7): thresholds, k-anonymity by generalisation, small-cell and
complementary suppression, and the LP attacker that tries to undo the suppression from margins."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from releases.disclosure import (
    JURISDICTION_THRESHOLDS,
    MARGIN,
    InconsistentTable,
    InvalidHierarchy,
    InvalidThreshold,
    KAnonymityUnattainable,
    KAnonymityViolation,
    QuasiIdentifier,
    TableStructureError,
    UnknownHierarchyCode,
    UnknownJurisdiction,
    assert_k_anonymous,
    audit_suppression,
    check_k_anonymity,
    diagnosis,
    k_anonymise,
    parent_maps_from_table,
    region,
    sex,
    suppress_table,
    threshold_for,
    year_of_birth,
)

# ---------------------------------------------------------------- thresholds


def test_thresholds_defaults_overrides_and_errors():
    assert threshold_for("ohdsi") == 5
    assert threshold_for(" Finland ") == JURISDICTION_THRESHOLDS["finland"]
    assert threshold_for("taiwan", overrides={"Taiwan": 3}) == 3
    assert threshold_for("estonia", overrides={"estonia": 10}) == 10
    with pytest.raises(UnknownJurisdiction, match="'sweden'.*known: \\['finland', 'ohdsi', 'taiwan'\\]"):
        threshold_for("sweden")
    for bad in (0, -1, True, 2.5, "5"):
        with pytest.raises(InvalidThreshold):
            threshold_for("ohdsi", overrides={"ohdsi": bad})
    with pytest.raises(TypeError):
        JURISDICTION_THRESHOLDS["ohdsi"] = 1  # type: ignore[index]


# ---------------------------------------------------------------- hierarchies


def _levels(qi: QuasiIdentifier, values) -> list[list]:
    enc = qi.encode(pd.Series(values, dtype=object))
    return [[None if pd.isna(v) else v for v in lv[enc.codes]] for lv in enc.level_values]


def test_year_of_birth_bands_and_null():
    levels = _levels(year_of_birth("yob"), [1983, 1980, 1989, None, 1990.0])
    assert levels == [
        [1983, 1980, 1989, None, 1990.0],
        ["1980-1984", "1980-1984", "1985-1989", None, "1990-1994"],
        ["1980-1989", "1980-1989", "1980-1989", None, "1990-1999"],
        ["*"] * 5,
    ]
    assert year_of_birth(bands=(5, 10, 20)).n_levels == 5
    with pytest.raises(InvalidHierarchy):
        year_of_birth(bands=(5, 7))
    with pytest.raises(UnknownHierarchyCode, match="1983.5"):
        year_of_birth().encode(pd.Series([1983.5, 1980]))
    with pytest.raises(UnknownHierarchyCode):
        year_of_birth().encode(pd.Series(["19x3"]))


def test_sex_region_and_parent_maps():
    assert _levels(sex(), ["F", "M", None]) == [["F", "M", None], ["*", "*", "*"]]
    areas = pd.DataFrame(
        {"municipality": ["091", "049", "837", "853"], "region": ["Uusimaa", "Uusimaa", "Pirkanmaa", "Varsinais"],
         "area": ["South", "South", "West", "West"]}
    )
    maps = parent_maps_from_table(areas, ["municipality", "region", "area"])
    qi = region("muni", maps, ["municipality", "region", "area"])
    assert qi.level_names == ("municipality", "region", "area", "*")
    assert _levels(qi, ["091", "837", None]) == [
        ["091", "837", None], ["Uusimaa", "Pirkanmaa", None], ["South", "West", None], ["*", "*", "*"]
    ]
    with pytest.raises(UnknownHierarchyCode, match="'999'"):
        qi.encode(pd.Series(["091", "999"]))
    with pytest.raises(UnknownHierarchyCode):
        qi.encode(pd.Series([91]))  # an int is not the code "091"
    two_parents = pd.DataFrame({"municipality": ["091", "091"], "region": ["Uusimaa", "Pirkanmaa"]})
    with pytest.raises(InvalidHierarchy):
        parent_maps_from_table(two_parents, ["municipality", "region"])


def test_diagnosis_category_and_icd10_chapters():
    codes = ["E11.9", "e119", "I10", "U07.1", "Z00.0", "D48.1", "D50", "H60.3", "H59", "S72.0", "T98", "V01", "Y98"]
    levels = _levels(diagnosis("dx"), codes)
    assert levels[1] == ["E11", "E11", "I10", "U07", "Z00", "D48", "D50", "H60", "H59", "S72", "T98", "V01", "Y98"]
    assert levels[2] == [
        "chapter IV", "chapter IV", "chapter IX", "chapter XXII", "chapter XXI", "chapter II", "chapter III",
        "chapter VIII", "chapter VII", "chapter XIX", "chapter XIX", "chapter XX", "chapter XX",
    ]
    with pytest.raises(UnknownHierarchyCode, match="250.00"):
        diagnosis().encode(pd.Series(["250.00"]))  # ICD-9 has no ICD-10 chapter
    assert _levels(diagnosis(chapters=None), ["250.00"])[1:] == [["250"], ["*"]]
    custom = diagnosis(chapters={"E11": "metabolic", "I10": "circulatory"})
    assert _levels(custom, ["E11.9", "I10"])[2] == ["metabolic", "circulatory"]
    with pytest.raises(InvalidHierarchy):
        diagnosis(chapters="icd9")


def test_hierarchy_that_is_not_a_coarsening_is_refused():
    # level 2 splits values that level 1 merged
    qi = QuasiIdentifier(
        "x", ("raw", "parity", "other", "*"), (lambda s: s % 2, lambda s: s % 3)
    )
    with pytest.raises(InvalidHierarchy, match="not a coarsening"):
        qi.encode(pd.Series([0, 1, 2, 3, 4, 5]))
    with pytest.raises(InvalidHierarchy):
        QuasiIdentifier("x", ("raw", "*"), (lambda s: s,))


# ---------------------------------------------------------------- k-anonymity

MUNI_REGION = {"m1": "r1", "m2": "r1", "m3": "r2", "m4": "r2"}


def _qis() -> list[QuasiIdentifier]:
    return [year_of_birth("yob"), sex("sex"), region("muni", [MUNI_REGION], ["municipality", "region"])]


def _oracle_generalise(df: pd.DataFrame, node: tuple[int, int, int]) -> pd.DataFrame:
    """Generalisation written independently of the library: arithmetic and dict lookups on the rows."""
    out = pd.DataFrame(index=df.index)
    yob = df["yob"]
    if node[0] == 0:
        out["yob"] = yob.astype(object)
    elif node[0] in (1, 2):
        w = 5 if node[0] == 1 else 10
        out["yob"] = [None if pd.isna(y) else f"{int(y) // w * w}-{int(y) // w * w + w - 1}" for y in yob]
    else:
        out["yob"] = "*"
    out["sex"] = df["sex"].astype(object) if node[1] == 0 else "*"
    out["muni"] = {0: df["muni"].astype(object), 1: df["muni"].map(MUNI_REGION).astype(object), 2: "*"}[node[2]]
    return out


def _oracle_best(df: pd.DataFrame, k: int, max_suppression: float):
    budget = math.floor(max_suppression * len(df) + 1e-9)
    feasible = []
    for node in itertools.product(range(4), range(2), range(3)):
        sizes = _oracle_generalise(df, node).groupby(["yob", "sex", "muni"], dropna=False).size()
        suppressed = int(sizes[sizes < k].sum())
        if suppressed <= budget:
            loss = node[0] / 3 + node[1] / 1 + node[2] / 2
            feasible.append((round(loss, 9), suppressed, node))
    return min(feasible) if feasible else None


def _rows(frame: pd.DataFrame) -> list[list]:
    return [[None if pd.isna(v) else v for v in row] for row in frame.astype(object).values.tolist()]


persons = st.integers(1, 60).flatmap(
    lambda n: st.builds(
        lambda yob, sx, mu: pd.DataFrame({"yob": yob, "sex": sx, "muni": mu, "payload": range(n)}),
        st.lists(st.one_of(st.integers(1975, 1994), st.none()), min_size=n, max_size=n),
        st.lists(st.sampled_from(["F", "M", None]), min_size=n, max_size=n),
        st.lists(st.sampled_from(list(MUNI_REGION)), min_size=n, max_size=n),
    )
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=persons, k=st.integers(1, 5), max_suppression=st.sampled_from([0.0, 0.1, 0.3]))
def test_k_anonymise_matches_brute_force_lattice(df, k, max_suppression):
    best = _oracle_best(df, k, max_suppression)
    if best is None:
        with pytest.raises(KAnonymityUnattainable):
            k_anonymise(df, _qis(), k, max_suppression=max_suppression)
        return
    result = k_anonymise(df, _qis(), k, max_suppression=max_suppression)
    loss, suppressed, node = best
    assert (round(result.information_loss, 9), result.suppressed) == (loss, suppressed)
    assert tuple(result.levels.values()) == node  # tie-break: smallest level tuple, as the oracle's min
    assert len(result.frame) + result.suppressed == len(df)
    assert check_k_anonymity(result.frame, ["yob", "sex", "muni"], k).empty
    assert result.min_class_size is None or result.min_class_size >= k
    # released values are the oracle's generalisation of the same rows; other columns untouched
    expected = _oracle_generalise(df.loc[result.frame.index], node)
    assert _rows(result.frame[["yob", "sex", "muni"]]) == _rows(expected)
    assert result.frame["payload"].tolist() == df.loc[result.frame.index, "payload"].tolist()
    assert sorted(result.suppressed_index.tolist()) == sorted(set(df.index) - set(result.frame.index))


def test_k_anonymise_small_example_and_null_as_own_value():
    df = pd.DataFrame(
        {"yob": [1980, 1981, 1982, 1983, 1984, 1980, 1981, 1982, 1983, 1984, 1950],
         "sex": ["F"] * 5 + [None] * 5 + ["M"],
         "muni": ["m1", "m2"] * 5 + ["m3"]}
    )
    result = k_anonymise(df, _qis(), 5, max_suppression=0.1)
    assert result.level_names == {"yob": "5-year band", "sex": "sex", "muni": "region"}
    assert result.suppressed == 1 and result.suppressed_index.tolist() == [10]
    assert result.n_classes == 2 and result.min_class_size == 5
    # the NULL sex rows form their own class of five, they are not merged with F
    classes = result.frame.groupby(["yob", "sex", "muni"], dropna=False, observed=True).size()
    assert sorted(classes.tolist()) == [5, 5]
    assert result.frame["sex"].isna().sum() == 5
    with pytest.raises(KAnonymityUnattainable):
        k_anonymise(df.head(4), _qis(), 5, max_suppression=0.0)


def test_k_equal_one_changes_nothing_and_input_errors():
    df = pd.DataFrame({"yob": [1980, 1990], "sex": ["F", "M"], "muni": ["m1", "m3"]})
    result = k_anonymise(df, _qis(), 1)
    assert result.levels == {"yob": 0, "sex": 0, "muni": 0} and result.suppressed == 0
    pd.testing.assert_frame_equal(result.frame, df)
    with pytest.raises(InvalidThreshold):
        k_anonymise(df, _qis(), 0)
    with pytest.raises(ValueError, match="not in the frame"):
        k_anonymise(df, [sex("gender")], 2)
    with pytest.raises(ValueError, match="twice"):
        k_anonymise(df, [sex(), sex()], 2)


def test_assert_k_anonymous_reports_counts_not_values():
    df = pd.DataFrame({"dx": ["Q87.4"] + ["E11"] * 3, "sex": ["F"] * 4})
    small = check_k_anonymity(df, ["dx", "sex"], 2)
    assert small.to_dict("records") == [{"dx": "Q87.4", "sex": "F", "class_size": 1}]
    with pytest.raises(KAnonymityViolation) as exc:
        assert_k_anonymous(df, ["dx", "sex"], 2)
    assert "Q87" not in str(exc.value) and "1 equivalence class" in str(exc.value)
    assert_k_anonymous(df, ["sex"], 4)


def test_k_anonymise_a_million_persons_loosely_timed():
    rng = np.random.default_rng(7)
    n = 1_000_000
    munis = [f"{i:03d}" for i in range(300)]
    maps = [{m: f"R{int(m) % 19:02d}" for m in munis}, {f"R{i:02d}": f"A{i % 4}" for i in range(19)}]
    codes = np.array([f"{c}{d:02d}.{s}" for c in "ACEGIJKMNQ" for d in range(0, 100, 7) for s in range(3)])
    df = pd.DataFrame(
        {
            "yob": rng.integers(1920, 2020, n),
            "sex": rng.choice(np.array(["F", "M"]), n),
            "muni": rng.choice(np.array(munis), n),
            "dx": np.where(rng.random(n) < 0.9, None, rng.choice(codes, n)),
        }
    )
    qis = [year_of_birth("yob"), sex("sex"), region("muni", maps), diagnosis("dx")]
    start = time.perf_counter()
    result = k_anonymise(df, qis, 10)
    elapsed = time.perf_counter() - start
    print(f"k_anonymise 1e6 persons, 4 QIs, {result.nodes_evaluated} nodes: {elapsed:.2f}s")
    assert check_k_anonymity(result.frame, ["yob", "sex", "muni", "dx"], 10).empty
    assert result.suppressed <= 50_000 and len(result.frame) == n - result.suppressed


# ---------------------------------------------------------------- aggregate tables


def _with_margins(cells: pd.DataFrame, dims: list[str]) -> pd.DataFrame:
    """All marginal totals by pandas groupby, written independently of the library's cube."""
    parts = []
    for r in range(len(dims) + 1):
        for kept in itertools.combinations(dims, r):
            if kept:
                part = cells.groupby(list(kept), sort=False)["n"].sum().reset_index()
            else:
                part = pd.DataFrame({"n": [cells["n"].sum()]})
            for d in dims:
                if d not in kept:
                    part[d] = MARGIN
            parts.append(part[[*dims, "n"]])
    out = pd.concat(parts, ignore_index=True)
    out[dims] = out[dims].astype(object)
    return out


def _lines_with_one_suppressed(table: pd.DataFrame, dims: list[str]) -> int:
    bad = 0
    for d in dims:
        others = [o for o in dims if o != d]
        na = table["n"].isna()
        per_line = na.groupby([table[o] for o in others]).sum() if others else pd.Series([na.sum()])
        bad += int((per_line == 1).sum())
    return bad


def _grid(shape: tuple[int, ...]) -> pd.DataFrame:
    names = [f"d{i}" for i in range(len(shape))]
    levels = [[f"{n}{j}" for j in range(s)] for n, s in zip(names, shape, strict=True)]
    return pd.MultiIndex.from_product(levels, names=names).to_frame(index=False)


tables = (
    st.sampled_from([(3,), (6,), (2, 2), (3, 4), (4, 4), (2, 2, 2), (3, 2, 3), (3, 3, 3)])
    .flatmap(lambda shape: st.tuples(
        st.just(shape),
        st.lists(st.integers(0, 14), min_size=math.prod(shape), max_size=math.prod(shape)),
    ))
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables, threshold=st.integers(2, 5))
def test_suppression_cannot_be_undone_from_margins(table, threshold):
    shape, counts = table
    cells = _grid(shape).assign(n=counts)
    dims = list(cells.columns[:-1])
    result = suppress_table(cells, dims, "n", threshold)
    truth = _with_margins(cells, dims)
    published = result.table
    assert len(published) == len(truth) == math.prod(s + 1 for s in shape)
    merged = published.merge(truth, on=dims, suffixes=("", "_true"), validate="one_to_one")
    shown = merged["n"].notna()
    assert (merged.loc[shown, "n"] == merged.loc[shown, "n_true"]).all()
    small = (merged["n_true"] > 0) & (merged["n_true"] < threshold)
    assert ((merged["suppression"] == "primary").fillna(False) == small).all()
    assert (merged["n"].isna() == merged["suppression"].notna()).all()
    assert (merged.loc[merged["suppression"] == "complementary", "n_true"] > 0).all()
    assert result.n_primary == int(small.sum())
    assert _lines_with_one_suppressed(published, dims) == 0

    attack = audit_suppression(published, dims, "n", threshold=threshold)
    assert attack.ok, attack.findings
    assert len(attack.intervals) == result.n_primary + result.n_complementary
    hit = attack.intervals.merge(truth, on=dims)
    assert ((hit["lower"] <= hit["n"]) & (hit["n"] <= hit["upper"])).all()
    assert (hit.loc[hit["flag"] == "primary", "upper"] >= threshold).all()
    assert (hit["upper"] > hit["lower"]).all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables, threshold=st.integers(2, 5))
def test_primary_only_suppression_is_recovered_by_the_attacker(table, threshold):
    shape, counts = table
    cells = _grid(shape).assign(n=counts)
    dims = list(cells.columns[:-1])
    truth = _with_margins(cells, dims)
    published = truth.copy()
    small = (truth["n"] > 0) & (truth["n"] < threshold)
    published["n"] = published["n"].astype("Int64").mask(small)
    published["suppression"] = np.where(small, "primary", None)
    attack = audit_suppression(published, dims, "n", threshold=threshold)
    hit = attack.intervals.merge(truth, on=dims)
    assert len(hit) == int(small.sum())
    assert ((hit["lower"] <= hit["n"]) & (hit["n"] <= hit["upper"])).all()  # the attacker is sound
    # a suppressed cell alone on a line is the margin minus the published rest: the attacker must get it exactly
    lonely = set()
    for d in dims:
        others = [o for o in dims if o != d]
        na = published["n"].isna()
        per_line = na.groupby([published[o] for o in others]).transform("sum") if others else na.sum()
        lonely |= set(published.index[na & (per_line == 1)])
    exact = attack.intervals[attack.intervals["finding"] == "exact"]
    recovered = exact.merge(truth, on=dims)
    assert (recovered["lower"] == recovered["n"]).all() and (recovered["upper"] == recovered["n"]).all()
    lonely_keys = {tuple(published.loc[i, dims]) for i in lonely}
    assert lonely_keys <= {tuple(r) for r in exact[dims].itertuples(index=False)}
    if lonely:
        assert not attack.ok


def test_primary_only_two_by_two_is_recomputed_exactly():
    cells = pd.DataFrame({"sex": ["F", "F", "M", "M"], "region": ["a", "b", "a", "b"], "n": [2, 40, 30, 50]})
    truth = _with_margins(cells, ["sex", "region"])
    published = truth.assign(n=truth["n"].astype("Int64").mask(truth["n"] < 5))
    attack = audit_suppression(published, ["sex", "region"], "n")
    assert attack.findings[["sex", "region", "lower", "upper", "finding"]].values.tolist() == [
        ["F", "a", 2.0, 2.0, "exact"]
    ]
    protected = suppress_table(cells, ["sex", "region"], "n", 5)
    assert protected.n_primary == 1 and protected.n_complementary == 3  # the 2x2 block around the small cell
    assert audit_suppression(protected.table, ["sex", "region"], "n", threshold=5).ok


def test_line_rule_alone_is_not_enough_and_the_attacker_sees_it():
    # every row and column has 0 or >= 2 suppressed cells, yet cell (r0, c2) bridges two
    # suppression cycles and equals a combination of published margins
    values = np.array(
        [[3, 9, 7, 20], [8, 6, 20, 20], [20, 20, 6, 9], [20, 20, 8, 7]]
    )
    hidden = np.array(
        [[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]], dtype=bool
    )
    cells = _grid((4, 4)).assign(n=values.ravel())
    truth = _with_margins(cells, ["d0", "d1"])
    inner = ~(truth[["d0", "d1"]] == MARGIN).any(axis=1)
    published = truth.assign(n=truth["n"].astype("Int64"))
    published.loc[inner, "n"] = published.loc[inner, "n"].mask(hidden.ravel())
    assert _lines_with_one_suppressed(published, ["d0", "d1"]) == 0
    attack = audit_suppression(published, ["d0", "d1"], "n")
    assert attack.findings[["d0", "d1", "lower", "upper"]].values.tolist() == [["d00", "d12", 7.0, 7.0]]
    # integer attacker agrees on a 2-D table
    assert audit_suppression(published, ["d0", "d1"], "n", integer=True).findings["d1"].tolist() == ["d12"]


def test_below_threshold_finding_and_its_repair():
    cells = pd.DataFrame({"age": ["0-17", "18-64", "65+"], "n": [1, 2, 50]})
    truth = _with_margins(cells, ["age"])
    small = truth["n"] < 5
    naive = truth.assign(n=truth["n"].astype("Int64").mask(small), suppression=np.where(small, "primary", None))
    findings = audit_suppression(naive, ["age"], "n", threshold=5).findings
    assert findings[["age", "lower", "upper", "finding"]].values.tolist() == [
        ["0-17", 1.0, 2.0, "below_threshold"], ["18-64", 1.0, 2.0, "below_threshold"]
    ]
    result = suppress_table(cells, ["age"], "n", 5)
    assert result.table["suppression"].fillna("-").tolist() == ["primary", "primary", "complementary", "-"]
    assert result.audit_rounds == 2
    attack = audit_suppression(result.table, ["age"], "n", threshold=5)
    assert attack.ok and attack.intervals["upper"].tolist() == [51.0, 51.0, 51.0]  # 53 - 1 - 1


def test_options_margins_zero_policy_and_release_view():
    cells = pd.DataFrame({"sex": ["F", "F", "M", "M"], "region": ["a", "b", "a", "b"], "n": [0, 40, 30, 50]})
    zero_safe = suppress_table(cells, ["sex", "region"], "n", 5)
    assert zero_safe.n_primary == 0 and zero_safe.table["n"].notna().all()
    strict = suppress_table(cells, ["sex", "region"], "n", 5, zero_is_safe=False)
    assert strict.n_primary == 1 and strict.n_complementary == 3
    assert audit_suppression(strict.table, ["sex", "region"], "n", threshold=5, lower_bound=0).ok
    inner = suppress_table(cells.assign(n=[2, 40, 30, 50]), ["sex", "region"], "n", 5, margins=False)
    assert len(inner.table) == 4 and not inner.table[["sex", "region"]].isin([MARGIN]).any().any()
    assert inner.table["n"].isna().sum() == 4  # suppressed as if the margins were published
    release = zero_safe.for_release()
    assert list(release.columns) == ["sex", "region", "n"]
    absent = suppress_table(cells[cells["n"] > 0], ["sex", "region"], "n", 5)
    assert absent.table.loc[(absent.table["sex"] == "F") & (absent.table["region"] == "a"), "n"].tolist() == [0]


def test_table_errors():
    cells = pd.DataFrame({"a": ["x", "y"], "n": [3, 9]})
    with pytest.raises(TableStructureError, match="duplicate"):
        suppress_table(pd.concat([cells, cells]), ["a"], "n", 5)
    with pytest.raises(TableStructureError, match="non-negative"):
        suppress_table(cells.assign(n=[-1, 3]), ["a"], "n", 5)
    with pytest.raises(TableStructureError, match="margin marker"):
        suppress_table(cells.assign(a=["x", MARGIN]), ["a"], "n", 5)
    with pytest.raises(TableStructureError, match="no '\\(all\\)' rows"):
        audit_suppression(cells, ["a"], "n")
    bad_total = pd.DataFrame({"a": ["x", "y", MARGIN], "n": [3, 9, 13]})
    with pytest.raises(InconsistentTable):
        audit_suppression(bad_total, ["a"], "n")
    with pytest.raises(InconsistentTable):
        audit_suppression(bad_total.assign(n=pd.array([None, 9, 8], dtype="Int64")), ["a"], "n")
    with pytest.raises(TableStructureError, match="exactly once"):
        audit_suppression(bad_total.head(2).assign(a=["x", MARGIN]).pipe(lambda t: pd.concat([t, t])), ["a"], "n")


def test_integer_attacker_is_at_least_as_tight_as_the_lp_one():
    rng = np.random.default_rng(11)
    cells = _grid((3, 3, 2)).assign(n=rng.integers(0, 9, 18))
    dims = ["d0", "d1", "d2"]
    result = suppress_table(cells, dims, "n", 4, integer_audit=True)
    assert result.n_primary > 0 and result.n_complementary > 0
    lp = audit_suppression(result.table, dims, "n", threshold=4)
    ip = audit_suppression(result.table, dims, "n", threshold=4, integer=True)
    assert lp.ok and ip.ok
    assert (ip.intervals["lower"] >= lp.intervals["lower"]).all()
    assert (ip.intervals["upper"] <= lp.intervals["upper"]).all()
    assert threshold_for("ohdsi") == suppress_table(cells, dims, "n", threshold_for("ohdsi")).threshold


def test_max_levels_keeps_a_required_column_below_the_top():
    """Year of birth is required in OMOP: the search may band it but never merge it into '*'."""
    import pandas as pd

    from releases.disclosure import KAnonymityUnattainable, k_anonymise, sex, year_of_birth

    df = pd.DataFrame({"yob": [1960 + 3 * i for i in range(12)], "sex": ["F", "M"] * 6})
    free = k_anonymise(df, [year_of_birth("yob"), sex("sex")], 4, max_suppression=0.0)
    assert free.levels["yob"] == 3  # unconstrained, the cheapest node merges every year
    capped = k_anonymise(df, [year_of_birth("yob", bands=(5, 10, 40)), sex("sex")], 4, max_suppression=0.0,
                         max_levels={"yob": 3})
    assert capped.levels["yob"] <= 3 and capped.level_names["yob"] != "*" and capped.min_class_size >= 4
    with pytest.raises(KAnonymityUnattainable, match="within max_levels"):
        k_anonymise(df, [year_of_birth("yob"), sex("sex")], 4, max_suppression=0.0, max_levels={"yob": 2})
