"""Write the demo vocabulary's Athena-format files from ``source.py``.

Usage: ``python -m terminology.demo_vocabulary.build [OUTPUT_DIR]`` (default:
this folder).  Writes ``athena/`` (public-vocabulary stand-in),
``nhi_local/`` (project-local vocabularies) and ``finomop/`` (the Finnish
source vocabularies as FinOMOP-style usagi-extended CSV files plus a
``vocabularies.csv`` index in FinOMOP's format).  Output is deterministic; a
test rebuilds into a temporary folder and compares with the committed files.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import pyarrow as pa

from terminology.demo_vocabulary import DEMO_DIR, source as S
from terminology.usagi import ADD_INFO_COLUMNS, USAGI_COLUMNS, write_usagi

# Athena file layouts (lower-case headers, as Athena writes them)
HEADERS: dict[str, tuple[str, ...]] = {
    "CONCEPT": ("concept_id", "concept_name", "domain_id", "vocabulary_id", "concept_class_id",
                "standard_concept", "concept_code", "valid_start_date", "valid_end_date", "invalid_reason"),
    "CONCEPT_RELATIONSHIP": ("concept_id_1", "concept_id_2", "relationship_id", "valid_start_date",
                             "valid_end_date", "invalid_reason"),
    "CONCEPT_ANCESTOR": ("ancestor_concept_id", "descendant_concept_id", "min_levels_of_separation",
                         "max_levels_of_separation"),
    "CONCEPT_SYNONYM": ("concept_id", "concept_synonym_name", "language_concept_id"),
    "CONCEPT_CLASS": ("concept_class_id", "concept_class_name", "concept_class_concept_id"),
    "DOMAIN": ("domain_id", "domain_name", "domain_concept_id"),
    "RELATIONSHIP": ("relationship_id", "relationship_name", "is_hierarchical", "defines_ancestry",
                     "reverse_relationship_id", "relationship_concept_id"),
    "VOCABULARY": ("vocabulary_id", "vocabulary_name", "vocabulary_reference", "vocabulary_version",
                   "vocabulary_concept_id"),
    "DRUG_STRENGTH": ("drug_concept_id", "ingredient_concept_id", "amount_value", "amount_unit_concept_id",
                      "numerator_value", "numerator_unit_concept_id", "denominator_value",
                      "denominator_unit_concept_id", "box_size", "valid_start_date", "valid_end_date",
                      "invalid_reason"),
}

LANGUAGE_ENGLISH = 4180186
LANGUAGE_CHINESE = 4182948


def _target_id(target: int | str) -> int:
    if isinstance(target, str):
        prefix, offset = target.split(":")
        assert prefix == "crossbridge", target
        return S.VOCABULARY_BLOCKS["Crossbridge"] + int(offset)
    return target


def source_concept_ids() -> dict[tuple[str, str], int]:
    """(vocabulary_id, concept_code) -> concept id of every source concept."""
    position: dict[str, int] = defaultdict(int)
    out: dict[tuple[str, str], int] = {}
    for vocab, code, *_ in S.SOURCE:
        position[vocab] += 1
        out[(vocab, code)] = S.VOCABULARY_BLOCKS[vocab] + position[vocab]
    return out


def _closure(edges: tuple[tuple[int, int], ...]) -> dict[tuple[int, int], tuple[int, int]]:
    """(ancestor, descendant) -> (min, max) levels for the transitive closure of 'Is a' edges."""
    parents: dict[int, list[int]] = defaultdict(list)
    for child, parent in edges:
        parents[child].append(parent)
    out: dict[tuple[int, int], tuple[int, int]] = {}

    def walk(start: int, node: int, depth: int) -> None:
        for p in parents.get(node, ()):
            lo, hi = out.get((p, start), (depth, depth))
            out[(p, start)] = (min(lo, depth), max(hi, depth))
            walk(start, p, depth + 1)

    for child in list(parents):
        walk(child, child, 1)
    return out


def _rows_for(local: bool) -> dict[str, list[tuple]]:
    """All rows of one folder: public stand-in (local=False) or project-local (local=True)."""
    rows: dict[str, list[tuple]] = {name: [] for name in HEADERS}
    local_vocabs = {v for v, spec in S.VOCABULARIES.items() if spec[4]}
    start, end = S.VALID_START, S.VALID_END

    def maps(a: int, b: int) -> None:
        rows["CONCEPT_RELATIONSHIP"].append((a, b, "Maps to", start, end, ""))
        rows["CONCEPT_RELATIONSHIP"].append((b, a, "Mapped from", start, end, ""))

    standard_ids: list[int] = []
    classes: set[tuple[str, str]] = set()
    if not local:
        for cid, name, domain, vocab, cls, code, _how in S.STANDARD:
            rows["CONCEPT"].append((cid, name, domain, vocab, cls, "S", code, start, end, ""))
            classes.add((cls, cls))
            standard_ids.append(cid)
        cid, name, domain, vocab, cls, code = S.NO_MATCHING_CONCEPT
        rows["CONCEPT"].append((cid, name, domain, vocab, cls, "", code, start, end, ""))
        classes.add((cls, cls))
    else:
        base = S.VOCABULARY_BLOCKS["Crossbridge"]
        for offset, name, domain, cls, code in S.CROSSBRIDGE:
            rows["CONCEPT"].append((base + offset, name, domain, "Crossbridge", cls, "S", code, start, end, ""))
            classes.add((cls, cls))
            standard_ids.append(base + offset)
    for cid in standard_ids:  # standard concepts map to themselves
        rows["CONCEPT_RELATIONSHIP"].append((cid, cid, "Maps to", start, end, ""))
        rows["CONCEPT_RELATIONSHIP"].append((cid, cid, "Mapped from", start, end, ""))
        rows["CONCEPT_ANCESTOR"].append((cid, cid, 0, 0))

    ids = source_concept_ids()
    for vocab, code, name, cls, domain, target in S.SOURCE:
        if (vocab in local_vocabs) != local:
            continue
        cid = ids[(vocab, code)]
        rows["CONCEPT"].append((cid, name, domain, vocab, cls, "", code, start, end, ""))
        classes.add((cls, cls))
        maps(cid, _target_id(target))
        if vocab == "NHI Drug":
            rows["CONCEPT_SYNONYM"].append((cid, name, LANGUAGE_ENGLISH))
            rows["CONCEPT_SYNONYM"].append((cid, S.NHI_DRUG_CHINESE[code], LANGUAGE_CHINESE))

    if not local:
        for child, parent in S.IS_A:
            rows["CONCEPT_RELATIONSHIP"].append((child, parent, "Is a", start, end, ""))
            rows["CONCEPT_RELATIONSHIP"].append((parent, child, "Subsumes", start, end, ""))
        for (anc, desc), (lo, hi) in _closure(S.IS_A).items():
            rows["CONCEPT_ANCESTOR"].append((anc, desc, lo, hi))
        for domain, dcid in S.DOMAINS.items():
            rows["DOMAIN"].append((domain, domain, dcid))
        for rid, (name, hier, anc, rev, rcid) in S.RELATIONSHIPS.items():
            rows["RELATIONSHIP"].append((rid, name, hier, anc, rev, rcid))

    for cls, name in classes:
        rows["CONCEPT_CLASS"].append((cls, name, 0))
    for vocab, (name, ref, version, vcid, is_local) in S.VOCABULARIES.items():
        if is_local == local:
            rows["VOCABULARY"].append((vocab, name, ref, version, vcid))

    for name in rows:
        rows[name].sort(key=lambda r: tuple((0, v, "") if isinstance(v, int) else (1, 0, v) for v in r))
    if local:  # the overlay carries no DOMAIN / RELATIONSHIP / DRUG_STRENGTH files
        for name in ("DOMAIN", "RELATIONSHIP", "DRUG_STRENGTH"):
            rows.pop(name)
    return rows


def _write(folder: Path, rows: dict[str, list[tuple]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in rows.items():
        lines = ["\t".join(HEADERS[name])]
        for r in data:
            text = ["" if v is None else str(v) for v in r]
            assert not any(("\t" in t) or ("\n" in t) for t in text), r
            lines.append("\t".join(text))
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def fi_source_concept_ids() -> dict[tuple[str, str], int]:
    """(vocabulary_id, concept_code) -> concept id of every Finnish source concept (offset + position)."""
    position: dict[str, int] = defaultdict(int)
    out: dict[tuple[str, str], int] = {}
    for vocab, code, *_ in S.FI_SOURCE:
        position[vocab] += 1
        out[(vocab, code)] = S.FINOMOP_VOCABULARIES[vocab][1] + position[vocab]
    return out


def _usagi_rows(vocab: str) -> dict[str, list[str]]:
    """Usagi-extended columns (text) for one Finnish vocabulary: one row per (code, target)."""
    targets = {cid: (name, domain) for cid, name, domain, *_ in S.STANDARD}
    base = S.VOCABULARY_BLOCKS["Crossbridge"]
    targets.update({base + off: (name, domain) for off, name, domain, _cls, _code in S.CROSSBRIDGE})
    ids = fi_source_concept_ids()
    cols: dict[str, list[str]] = {c: [] for c in (*USAGI_COLUMNS, *ADD_INFO_COLUMNS)}
    for v, code, name, name_fi, cls, domain, maps in S.FI_SOURCE:
        if v != vocab:
            continue
        parents = code.replace("&", "+").replace("*", "+").replace("#", "+").split("+")
        for target, equivalence in maps or ((0, "UNREVIEWED"),):
            tid = _target_id(target)
            tname, tdomain = targets[tid] if tid else ("", "")
            row = {
                "sourceCode": code, "sourceName": name, "sourceFrequency": "-1", "sourceAutoAssignedConceptIds": "",
                "matchScore": "0", "mappingStatus": "APPROVED" if tid else "UNCHECKED", "equivalence": equivalence,
                "statusSetBy": "Crossbridge" if tid else "", "statusSetOn": "", "conceptId": str(tid),
                "conceptName": tname, "domainId": tdomain, "mappingType": "MAPS_TO", "comment": "",
                "createdBy": "Crossbridge", "createdOn": "", "assignedReviewer": "",
                "ADD_INFO:sourceConceptId": str(ids[(vocab, code)]), "ADD_INFO:sourceConceptClass": cls,
                "ADD_INFO:sourceDomain": domain, "ADD_INFO:sourceValidStartDate": "1970-01-01",
                "ADD_INFO:sourceValidEndDate": "2099-12-31",
                "ADD_INFO:sourceParents": "|".join(parents) if len(parents) > 1 else "",
                "ADD_INFO:sourceParentVocabulary": "|".join(
                    "ATC" if (code.count("#") and p == parents[-1]) else vocab for p in parents)
                if len(parents) > 1 else "",
                "ADD_INFO:sourceName_fi": name_fi,
            }
            for c in cols:
                cols[c].append(row[c])
    return cols


def _write_finomop(folder: Path) -> None:
    """One usagi-extended file per Finnish vocabulary plus FinOMOP's vocabularies.csv index."""
    folder.mkdir(parents=True, exist_ok=True)
    index = ["source_vocabulary_id,source_vocabulary_name,source_concept_id_offset,path_to_usagi_file,"
             "path_to_news_file,ignore"]
    for vocab, (name, offset) in S.FINOMOP_VOCABULARIES.items():
        file_name = f"{vocab.replace(' ', '_')}.usagi.csv"
        write_usagi(folder / file_name, pa.table({k: pa.array(v, pa.string()) for k, v in _usagi_rows(vocab).items()}))
        assert "," not in name and "," not in vocab, vocab
        index.append(f"{vocab},{name},{offset},./{file_name},,FALSE")
    (folder / "vocabularies.csv").write_text("\n".join(index) + "\n", encoding="utf-8")


def build(out_dir: Path = DEMO_DIR) -> tuple[Path, Path]:
    """Write ``athena/``, ``nhi_local/`` and ``finomop/`` under ``out_dir``; return the first two paths."""
    athena, local = Path(out_dir) / "athena", Path(out_dir) / "nhi_local"
    _write(athena, _rows_for(local=False))
    _write(local, _rows_for(local=True))
    _write_finomop(Path(out_dir) / "finomop")
    return athena, local


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else DEMO_DIR
    for p in (*build(out), out / "finomop"):
        print(p)
