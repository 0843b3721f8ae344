"""Usagi export of a store vocabulary reads back to the same concepts, mappings and equivalences."""

from __future__ import annotations

import pytest

from terminology.errors import UnknownCodeSystem
from terminology.usagi import read_usagi
from terminology.usagi_export import export_usagi


@pytest.mark.parametrize("vocabulary_id, offset", [("ICD10fi", 2_000_500_000), ("ICPC", 2_002_000_000),
                                                   ("NHI Drug", 2_100_000_000)])
def test_round_trip(demo_con, tmp_path, vocabulary_id, offset):
    path = tmp_path / "out.usagi.csv"
    report = export_usagi(demo_con, vocabulary_id, path)
    voc = read_usagi(path, vocabulary_id, concept_id_offset=offset)
    store = demo_con.execute(
        """SELECT concept_id, concept_code, concept_name FROM concept
           WHERE vocabulary_id = ? AND standard_concept IS NULL ORDER BY concept_id""", [vocabulary_id]).fetchall()
    got = sorted(zip(voc.concepts["concept_id"].to_pylist(), voc.concepts["concept_code"].to_pylist(),
                     voc.concepts["concept_name"].to_pylist()))
    assert got == store
    maps = demo_con.execute(
        """SELECT r.concept_id_1, r.concept_id_2 FROM concept_relationship r JOIN concept c
           ON c.concept_id = r.concept_id_1 WHERE c.vocabulary_id = ? AND c.standard_concept IS NULL
           AND r.relationship_id = 'Maps to' AND r.invalid_reason IS NULL ORDER BY 1, 2""",
        [vocabulary_id]).fetchall()
    assert sorted(zip(voc.mappings["source_concept_id"].to_pylist(),
                      voc.mappings["target_concept_id"].to_pylist())) == maps
    assert report["mappings"] == len(maps) and report["codes"] == len(store)
    stated = dict(((a, b), e) for a, b, e in demo_con.execute(
        "SELECT concept_id_1, concept_id_2, equivalence FROM mapping_equivalence").fetchall())
    for s, t, e in zip(voc.mappings["source_concept_id"].to_pylist(), voc.mappings["target_concept_id"].to_pylist(),
                       voc.mappings["equivalence"].to_pylist()):
        assert e == stated.get((s, t), "unreviewed").upper()


def test_finnish_names_and_unmapped_rows(demo_con, tmp_path):
    path = tmp_path / "icpc.csv"
    export_usagi(demo_con, "ICPC", path)
    voc = read_usagi(path, "ICPC", concept_id_offset=2_002_000_000)
    names = dict(zip(voc.concepts["concept_code"].to_pylist(), voc.concepts["name_fi"].to_pylist()))
    assert names["T90"]  # Finnish name kept
    rows = voc.rows.filter(voc.rows["sourceCode"].to_numpy(zero_copy_only=False) == "-50")
    assert rows["mappingStatus"].to_pylist() == ["UNCHECKED"] and rows["conceptId"].to_pylist() == ["0"]
    export_usagi(demo_con, "ICPC", path, include_unmapped=False)
    assert "-50" not in read_usagi(path, "ICPC", concept_id_offset=2_002_000_000).concepts["concept_code"].to_pylist()


def test_unknown_vocabulary(demo_con, tmp_path):
    with pytest.raises(UnknownCodeSystem, match="'Nope'"):
        export_usagi(demo_con, "Nope", tmp_path / "x.csv")
