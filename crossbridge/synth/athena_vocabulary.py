"""A full-size synthetic OMOP Athena vocabulary download (for load and translation benchmarks).

:func:`write_athena_vocabulary` writes the nine-table Athena layout that
:func:`terminology.athena.load_athena` reads (tab-separated, lower-case
header, no quoting, dates ``YYYYMMDD``; DRUG_STRENGTH is left out, as the
loader allows) with the shape of a real download:

* vocabularies in realistic proportions, scaled to ``concepts``: SNOMED
  (~1.1M standard of 5M), RxNorm + RxNorm Extension (~2.5M drugs), LOINC,
  NDC (non-standard source drugs), ICD10CM, ICD9CM, ICD10, ICD10PCS, ICD9Proc,
  CPT4, HCPCS, ATC (classification ``C``), UCUM, plus the well-known concepts
  of :mod:`terminology.concepts` (gender, visits, type concepts, languages,
  concept 0) and one metadata concept per vocabulary, domain, class and
  relationship, so every id any table references exists;
* code formats per vocabulary (``E11.38``, ``250.12``, ``12345-6``,
  ``OMOP1234567``, 11-digit NDCs, ``A10BA02`` ...), unique within a vocabulary;
  generated names of realistic length (clinical phrases, drug strings with
  strength, form, brand, box and supplier, LOINC-style test names);
* standard ``S``/``C``/null, deprecated (``D``) and upgraded (``U``) concepts
  with an end date in the past; ``U`` concepts are 'Concept replaced by' a
  valid concept of their vocabulary;
* CONCEPT_RELATIONSHIP: 'Maps to' self rows for standard concepts, 1–2
  standard targets for every valid non-standard concept, deprecated
  ('D') 'Maps to' rows for deprecated concepts, an 'Is a' tree over each
  vocabulary's standard/classification concepts (depth <= 3), and
  attribute pairs ('Has finding site', 'RxNorm has ing', ...) up to
  ``relationships`` rows.  Every row is written with its reverse;
* CONCEPT_ANCESTOR exactly the transitive closure of the 'Is a' trees plus
  a self row per standard/classification concept (~3x concepts at 5M);
* CONCEPT_SYNONYM: about one English synonym per concept, some Chinese and
  Finnish ones (language ids from :mod:`terminology.concepts`).

Rules: concept ids stay below 2,000,000,000 (local ids start there; bulk ids
start at 10,000,000); output is deterministic for the arguments (every value
is a hash of the seed, a stream salt and the row's index, so no state is
carried between chunks); memory is bounded (rows are built and written in
chunks of ``CHUNK`` with numpy and pyarrow, no Python loop over rows).
``relationships`` is a target: the structural rows above are always
written and attribute pairs fill up to it (the report gives the real count).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from crossbridge.synth.common import SynthArgumentError
from terminology import concepts as K

CHUNK = 1_000_000
BULK_ID_START = 10_000_000  # bulk concept ids: BULK_ID_START + 2*g + (0|1)
META_ID_START = 1_000  # metadata concepts (vocabulary, domain, class, relationship) not known in the demo
MIN_CONCEPTS = 5_000
MAX_CONCEPTS = 900_000_000  # keeps every id below LOCAL_CONCEPT_ID_START
NONE_VERSION = "v5.0 31-OCT-26 SYN"  # cdm_source.vocabulary_version is VARCHAR(20)

# status codes of a concept
S, C, N, D, U = range(5)  # standard, classification, valid non-standard, deprecated, upgraded
_STD = [b"S", b"C", None, None, None]
_INV = [None, None, None, b"D", b"U"]

# ------------------------------------------------------------------ the vocabularies


@dataclass(frozen=True)
class _Voc:
    vocabulary_id: str
    name: str
    weight: int  # concepts per 5M
    status: tuple[float, float, float, float, float]  # shares of S, C, N, D, U
    classes: tuple[tuple[str, str, float, str], ...]  # (domain, class, weight, SNOMED-style tag)
    code: str  # code format (see _codes)
    style: str  # name style (see _names)
    maps_to: tuple[str, ...] = ()  # target vocabularies of the non-standard concepts
    hierarchy: bool = True  # an 'Is a' tree over the S/C concepts


BULK = (
    _Voc("SNOMED", "Systematic Nomenclature of Medicine - Clinical Terms (IHTSDO)", 1_400_000,
         (0.79, 0, 0.15, 0.04, 0.02),
         (("Condition", "Clinical Finding", 0.36, "disorder"), ("Procedure", "Procedure", 0.2, "procedure"),
          ("Observation", "Observable Entity", 0.1, "observable entity"),
          ("Observation", "Qualifier Value", 0.08, "qualifier value"),
          ("Spec Anatomic Site", "Body Structure", 0.12, "body structure"),
          ("Measurement", "Lab Test", 0.06, "procedure"), ("Device", "Physical Object", 0.05, "physical object"),
          ("Observation", "Substance", 0.03, "substance")),
         "snomed", "clinical", ("SNOMED",)),
    _Voc("RxNorm", "RxNorm (NLM)", 300_000, (0.85, 0, 0.05, 0.06, 0.04),
         (("Drug", "Clinical Drug", 0.3, ""), ("Drug", "Branded Drug", 0.2, ""), ("Drug", "Ingredient", 0.05, ""),
          ("Drug", "Clinical Drug Comp", 0.15, ""), ("Drug", "Clinical Drug Form", 0.15, ""),
          ("Drug", "Branded Pack", 0.15, "")),
         "rxnorm", "drug", ("RxNorm",)),
    _Voc("RxNorm Extension", "OMOP RxNorm Extension", 2_200_000, (0.94, 0, 0.01, 0.03, 0.02),
         (("Drug", "Marketed Product", 0.35, ""), ("Drug", "Quant Clinical Drug", 0.15, ""),
          ("Drug", "Quant Branded Drug", 0.15, ""), ("Drug", "Clinical Drug Box", 0.15, ""),
          ("Drug", "Branded Drug Box", 0.2, "")),
         "rxe", "drug_box", ("RxNorm Extension",)),
    _Voc("LOINC", "Logical Observation Identifiers Names and Codes (Regenstrief Institute)", 250_000,
         (0.86, 0.02, 0.07, 0.05, 0),
         (("Measurement", "Lab Test", 0.7, ""), ("Measurement", "Clinical Observation", 0.1, ""),
          ("Observation", "Survey", 0.1, ""), ("Observation", "Answer", 0.1, "")),
         "loinc", "lab", ("LOINC",)),
    _Voc("NDC", "National Drug Code (FDA and manufacturers)", 600_000, (0, 0, 0.85, 0.15, 0),
         (("Drug", "11-digit NDC", 0.8, ""), ("Drug", "9-digit NDC", 0.2, "")),
         "ndc", "drug_upper", ("RxNorm", "RxNorm Extension")),
    _Voc("ICD10CM", "International Classification of Diseases, Tenth Revision, Clinical Modification (NCHS)",
         100_000, (0, 0, 0.97, 0.02, 0.01),
         (("Condition", "5-char billing code", 0.4, ""), ("Condition", "4-char billing code", 0.2, ""),
          ("Condition", "3-char nonbill code", 0.1, ""), ("Condition", "7-char billing code", 0.2, ""),
          ("Observation", "6-char billing code", 0.1, "")),
         "icd10", "clinical", ("SNOMED",)),
    _Voc("ICD9CM", "International Classification of Diseases, Ninth Revision, Clinical Modification, "
         "Volume 1 and 2 (NCHS)", 20_000, (0, 0, 0.98, 0.02, 0),
         (("Condition", "5-dig billing code", 0.5, ""), ("Condition", "4-dig billing code", 0.3, ""),
          ("Condition", "3-dig nonbill code", 0.1, ""), ("Observation", "3-dig billing code", 0.1, "")),
         "icd9", "clinical", ("SNOMED",)),
    _Voc("ICD10", "International Classification of Diseases, Tenth Revision (WHO)", 16_000,
         (0, 0, 0.98, 0.02, 0),
         (("Condition", "ICD10 code", 0.8, ""), ("Condition", "ICD10 Hierarchy", 0.2, "")),
         "icd10", "clinical", ("SNOMED",)),
    _Voc("ICD10PCS", "ICD-10 Procedure Coding System (CMS)", 190_000, (0.9, 0, 0.05, 0.05, 0),
         (("Procedure", "ICD10PCS", 0.9, ""), ("Procedure", "ICD10PCS Hierarchy", 0.1, "")),
         "pcs", "clinical", ("SNOMED",)),
    _Voc("ICD9Proc", "International Classification of Diseases, Ninth Revision, Clinical Modification, "
         "Volume 3 (NCHS)", 4_700, (0.9, 0, 0.05, 0.05, 0),
         (("Procedure", "4-dig billing code", 0.7, ""), ("Procedure", "3-dig billing code", 0.3, "")),
         "icd9proc", "clinical", ("SNOMED",)),
    _Voc("CPT4", "Current Procedural Terminology version 4 (AMA)", 15_000, (0.9, 0, 0.05, 0.05, 0),
         (("Procedure", "CPT4", 0.8, ""), ("Measurement", "CPT4", 0.2, "")),
         "cpt", "clinical", ("SNOMED",)),
    _Voc("HCPCS", "Healthcare Common Procedure Coding System (CMS)", 10_000, (0.5, 0, 0.4, 0.1, 0),
         (("Procedure", "HCPCS", 0.6, ""), ("Device", "HCPCS", 0.2, ""), ("Drug", "HCPCS", 0.2, "")),
         "hcpcs", "clinical", ("RxNorm",)),
    _Voc("ATC", "WHO Anatomic Therapeutic Chemical Classification", 6_000, (0, 1.0, 0, 0, 0),
         (("Drug", "ATC 5th", 0.8, ""), ("Drug", "ATC 4th", 0.15, ""), ("Drug", "ATC 3rd", 0.05, "")),
         "atc", "atc"),
    _Voc("UCUM", "Unified Code for Units of Measure (Regenstrief Institute)", 1_000, (0.95, 0, 0, 0.05, 0),
         (("Unit", "Unit", 1.0, ""),), "ucum", "unit", hierarchy=False),
)

# the well-known concepts of terminology.concepts (ids as in Athena); languages are SNOMED concepts
# with stand-in codes (9 digits: bulk SNOMED codes have 10 or more)
_FIXED = (
    (K.NO_MATCHING_CONCEPT, "No matching concept", "Metadata", "None", "Undefined", None, "No matching concept"),
    (K.GENDER_MALE, "MALE", "Gender", "Gender", "Gender", "S", "M"),
    (K.GENDER_FEMALE, "FEMALE", "Gender", "Gender", "Gender", "S", "F"),
    (K.VISIT_INPATIENT, "Inpatient Visit", "Visit", "Visit", "Visit", "S", "IP"),
    (K.VISIT_OUTPATIENT, "Outpatient Visit", "Visit", "Visit", "Visit", "S", "OP"),
    (K.VISIT_EMERGENCY, "Emergency Room Visit", "Visit", "Visit", "Visit", "S", "ER"),
    (K.VISIT_ER_AND_INPATIENT, "Emergency Room and Inpatient Visit", "Visit", "Visit", "Visit", "S", "ERIP"),
    (K.VISIT_PHARMACY, "Pharmacy visit", "Visit", "Visit", "Visit", "S", "PHARMACY"),
    (K.TYPE_CLAIM, "Claim", "Type Concept", "Type Concept", "Type Concept", "S", "CLAIM"),
    (K.TYPE_PHARMACY_CLAIM, "Pharmacy claim", "Type Concept", "Type Concept", "Type Concept", "S",
     "PHARMACY_CLAIM"),
    (K.TYPE_EHR, "EHR", "Type Concept", "Type Concept", "Type Concept", "S", "EHR"),
    (K.TYPE_REGISTRY, "Registry", "Type Concept", "Type Concept", "Type Concept", "S", "REGISTRY"),
    (K.TYPE_DEATH_CERTIFICATE, "Death Certificate", "Type Concept", "Type Concept", "Type Concept", "S",
     "DEATH_CERTIFICATE"),
    (K.STATUS_PRIMARY_DIAGNOSIS, "Primary diagnosis", "Condition Status", "Condition Status", "Condition Status",
     "S", "PRIMARY"),
    (K.STATUS_SECONDARY_DIAGNOSIS, "Secondary diagnosis", "Condition Status", "Condition Status",
     "Condition Status", "S", "SECONDARY"),
    (K.STATUS_UNDERLYING_CAUSE_OF_DEATH, "Underlying cause of death", "Condition Status", "Condition Status",
     "Condition Status", "S", "UNDERLYING_COD"),
    (K.STATUS_IMMEDIATE_CAUSE_OF_DEATH, "Immediate cause of death", "Condition Status", "Condition Status",
     "Condition Status", "S", "IMMEDIATE_COD"),
    (K.STATUS_CONTRIBUTORY_CAUSE_OF_DEATH, "Contributory cause of death", "Condition Status", "Condition Status",
     "Condition Status", "S", "CONTRIBUTORY_COD"),
    (K.LANGUAGE_ENGLISH, "English language", "Language", "SNOMED", "Qualifier Value", "S", "100000001"),
    (K.LANGUAGE_CHINESE, "Chinese language", "Language", "SNOMED", "Qualifier Value", "S", "100000002"),
    (K.LANGUAGE_FINNISH, "Finnish language", "Language", "SNOMED", "Qualifier Value", "S", "100000003"),
)
_FIXED_VOCABS = {"None": "OMOP Standardized Vocabularies", "Gender": "OMOP Gender", "Visit": "OMOP Visit",
                 "Type Concept": "OMOP Type Concept", "Condition Status": "OMOP Condition Status",
                 "Vocabulary": "OMOP Vocabulary", "Domain": "OMOP Domain", "Concept Class": "OMOP Concept Class",
                 "Relationship": "OMOP Relationship"}
# domain concept ids known from Athena (as in the demo vocabulary); other metadata concepts get ids from
# META_ID_START (Athena's relationship concept ids, 448xxxxx, would fall into the bulk id range)
_KNOWN_DOMAIN_IDS = {"Condition": 19, "Device": 17, "Drug": 13, "Gender": 2, "Measurement": 21, "Metadata": 7,
                     "Observation": 27, "Procedure": 10, "Specimen": 36, "Type Concept": 58, "Visit": 8}

# relationship pairs: (id, name, reverse id, reverse name, hierarchical)
_PAIRS = (
    ("Maps to", "Non-standard to Standard map (OMOP)", "Mapped from", "Standard to Non-standard map (OMOP)", 0),
    ("Is a", "Is a", "Subsumes", "Subsumes", 1),
    ("Concept replaced by", "Concept replaced by", "Concept replaces", "Concept replaces", 0),
    ("Has finding site", "Has finding site (SNOMED)", "Finding site of", "Finding site of (SNOMED)", 0),
    ("Has asso morph", "Has associated morphology (SNOMED)", "Asso morph of", "Associated morphology of (SNOMED)", 0),
    ("Has method", "Has method (SNOMED)", "Method of", "Method of (SNOMED)", 0),
    ("RxNorm has ing", "Has ingredient (RxNorm)", "RxNorm ing of", "Ingredient of (RxNorm)", 0),
    ("RxNorm has dose form", "Has dose form (RxNorm)", "RxNorm dose form of", "Dose form of (RxNorm)", 0),
    ("Has brand name", "Has brand name (OMOP)", "Brand name of", "Brand name of (OMOP)", 0),
    ("Has supplier", "Has supplier (OMOP)", "Supplier of", "Supplier of (OMOP)", 0),
    ("Has component", "Has component (LOINC)", "Component of", "Component of (LOINC)", 0),
    ("ATC - RxNorm", "ATC to RxNorm (OMOP)", "RxNorm - ATC", "RxNorm to ATC (OMOP)", 0),
)
_REL_IDS = [r for p in _PAIRS for r in (p[0], p[2])]
_REL = {r: i for i, r in enumerate(_REL_IDS)}  # forward id i*2, reverse i*2+1
# attribute pairs filling up to the relationship count: (relationship, source vocabulary, target vocabulary, weight)
_FILLER = (
    ("Has finding site", "SNOMED", "SNOMED", 3.0), ("Has asso morph", "SNOMED", "SNOMED", 2.0),
    ("Has method", "SNOMED", "SNOMED", 1.0), ("RxNorm has ing", "RxNorm Extension", "RxNorm", 2.0),
    ("RxNorm has dose form", "RxNorm", "RxNorm", 0.5), ("Has brand name", "RxNorm Extension", "RxNorm Extension", 1.0),
    ("Has supplier", "RxNorm Extension", "RxNorm Extension", 1.0), ("Has component", "LOINC", "LOINC", 1.0),
    ("ATC - RxNorm", "ATC", "RxNorm", 0.5),
)

_HEADERS = {
    "CONCEPT": "concept_id concept_name domain_id vocabulary_id concept_class_id standard_concept concept_code "
               "valid_start_date valid_end_date invalid_reason",
    "CONCEPT_RELATIONSHIP": "concept_id_1 concept_id_2 relationship_id valid_start_date valid_end_date "
                            "invalid_reason",
    "CONCEPT_ANCESTOR": "ancestor_concept_id descendant_concept_id min_levels_of_separation "
                        "max_levels_of_separation",
    "CONCEPT_SYNONYM": "concept_id concept_synonym_name language_concept_id",
    "CONCEPT_CLASS": "concept_class_id concept_class_name concept_class_concept_id",
    "DOMAIN": "domain_id domain_name domain_concept_id",
    "RELATIONSHIP": "relationship_id relationship_name is_hierarchical defines_ancestry reverse_relationship_id "
                    "relationship_concept_id",
    "VOCABULARY": "vocabulary_id vocabulary_name vocabulary_reference vocabulary_version vocabulary_concept_id",
}

# ------------------------------------------------------------------ hashing and dates

_M64 = (1 << 64) - 1
_DAYS = np.arange("1970-01-01", "2100-01-01", dtype="datetime64[D]")
_YMD = ((_DAYS.astype("M8[Y]").astype(np.int64) + 1970) * 10000
        + ((_DAYS.astype("M8[M]") - _DAYS.astype("M8[Y]")).astype(np.int64) + 1) * 100
        + (_DAYS - _DAYS.astype("M8[M]")).astype(np.int64) + 1).astype(np.int32)
_D1990, _D2024, _DPAST, _DEND = (int((np.datetime64(d) - _DAYS[0]).astype(np.int64))
                                 for d in ("1990-01-01", "2024-01-01", "2024-06-30", "2099-12-31"))


class _Hash:
    """Stateless per-row randomness: ``h(idx, salt)`` is splitmix64 of the seed, salt and index."""

    def __init__(self, seed: int) -> None:
        self.key = self._scalar(seed & _M64)

    @staticmethod
    def _scalar(x: int) -> int:
        x = (x + 0x9E3779B97F4A7C15) & _M64
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
        return x ^ (x >> 31)

    def __call__(self, idx: np.ndarray, salt: int) -> np.ndarray:
        z = idx.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z += np.uint64(self._scalar(self.key ^ (salt * 0xD1B54A32D192ED03 & _M64)))
        z ^= z >> np.uint64(30)
        z *= np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(27)
        z *= np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
        return z

    def mod(self, idx: np.ndarray, salt: int, n: int) -> np.ndarray:
        return (self(idx, salt) % np.uint64(max(n, 1))).astype(np.int64)

    def unit(self, idx: np.ndarray, salt: int) -> np.ndarray:
        return (self(idx, salt) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


# ------------------------------------------------------------------ word tables and names

_ONSETS = ["b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "cl", "cr",
           "dr", "ph", "pl", "st", "th", "tr", "ch", "sp", "gl"]
_VOWELS = ["a", "e", "i", "o", "u", "y", "ae", "io", "ou", "ia"]
_CODAS = ["", "", "", "n", "r", "s", "l", "x", "m", "t"]
_FI_ONSETS = ["k", "l", "m", "n", "p", "r", "s", "t", "v", "h", "j", ""]
_FI_VOWELS = ["a", "e", "i", "o", "u", "y", "ä", "ö", "aa", "ii", "uu", "ää", "ie", "uo"]
_STRENGTHS = [f"{v} {u}" for v in ("0.1", "0.5", "1", "2.5", "5", "10", "20", "25", "50", "100", "250", "500",
                                   "1000") for u in ("MG", "MG/ML", "MCG", "UNT/ML", "MG/ACTUAT")]
_FORMS = ["Oral Tablet", "Oral Capsule", "Injectable Solution", "Oral Solution", "Topical Cream",
          "Delayed Release Oral Tablet", "Extended Release Oral Capsule", "Inhalant Powder",
          "Prefilled Syringe", "Transdermal System", "Ophthalmic Solution", "Rectal Suppository"]
_PROPS = ["[Mass/volume]", "[Moles/volume]", "[Presence]", "[#/volume]", "[Units/volume]", "[Ratio]",
          "[Mass/time]", "[Percentile]", "[Time]", "[Entitic volume]"]
_SYSTEMS = ["in Serum or Plasma", "in Blood", "in Urine", "in Cerebral spinal fluid", "in Stool",
            "in Arterial blood", "in Body fluid", "in 24 hour Urine", "in Saliva", "in Tissue"]


class _Words:
    """Deterministic generated word tables (Latin-looking, Finnish-looking, Chinese) as pyarrow arrays."""

    def __init__(self, seed: int, n: int = 8192) -> None:
        rng = np.random.default_rng([seed, 20261031])

        def make(onsets: list[str], vowels: list[str], codas: list[str], count: int, lo: int, hi: int) -> list[str]:
            k = rng.integers(lo, hi + 1, size=count)
            on = rng.integers(len(onsets), size=(count, hi)).tolist()
            vo = rng.integers(len(vowels), size=(count, hi)).tolist()
            co = rng.integers(len(codas), size=count).tolist()
            return ["".join(onsets[on[j][m]] + vowels[vo[j][m]] for m in range(k[j])) + codas[co[j]]
                    for j in range(count)]

        words = list(dict.fromkeys(make(_ONSETS, _VOWELS, _CODAS, 2 * n, 1, 4)))[:n]
        fi = make(_FI_ONSETS, _FI_VOWELS, [""], 2048, 2, 4)
        cjk = ["".join(chr(0x4E00 + c) for c in row[:k]) for row, k in
               zip(rng.integers(0, 0x5000, size=(4096, 2)).tolist(), rng.integers(1, 3, size=4096).tolist())]
        self.lower = pa.array(words)
        self.cap = pa.array([w.capitalize() for w in words])
        self.brand = pa.array([f"[{w.capitalize()}]" for w in words[:2000]])
        self.maker = pa.array([f"by {w.capitalize()} {s}" for w, s in
                               zip(words[2000:3000], ["Pharma", "Laboratories", "GmbH", "Oy", "Ltd"] * 200)])
        self.box = pa.array([f"Box of {b}" for b in (1, 5, 10, 14, 20, 28, 30, 50, 56, 60, 90, 100)])
        self.strength = pa.array(_STRENGTHS)
        self.form = pa.array(_FORMS)
        self.prop = pa.array(_PROPS)
        self.system = pa.array(_SYSTEMS)
        self.by = pa.array([f"by {w}" for w in words[3000:3500]])
        self.fi = pa.array(fi)
        self.fi_cap = pa.array([w.capitalize() for w in fi])
        self.cjk = pa.array(cjk)


def _join(parts: list, sep: str = " ") -> pa.Array:
    """Join element-wise, skipping nulls.  The first part must have no nulls: pyarrow 26 drops rows whose
    parts are all null under null_handling='skip' (checked here)."""
    out = pc.binary_join_element_wise(*parts, sep, null_handling="skip")
    assert len(out) == max(len(x) for x in parts if isinstance(x, pa.Array)), "a row of all nulls"
    return out


class _Gen:
    """Everything derived from the seed and the sizes: per-concept arrays and the table builders."""

    def __init__(self, n_bulk: int, seed: int) -> None:
        self.h = _Hash(seed)
        self.w = _Words(seed)
        weights = np.array([v.weight for v in BULK], dtype=np.float64)
        exact = weights / weights.sum() * n_bulk
        sizes = np.maximum(np.floor(exact).astype(np.int64), 10)
        big = int(np.argmax(weights))
        sizes[big] += n_bulk - sizes.sum()
        self.sizes = sizes
        self.starts = np.concatenate([[0], np.cumsum(sizes)])
        self.n = int(n_bulk)
        g = np.arange(self.n, dtype=np.int64)
        self.ids = (BULK_ID_START + 2 * g + (self.h(g, 1) & np.uint64(1)).astype(np.int64)).astype(np.int64)
        self.status = np.empty(self.n, dtype=np.int8)
        self.cls = np.empty(self.n, dtype=np.int16)  # index into self.classes
        self.classes: list[tuple[str, str, str]] = []  # (domain, class, tag)
        for k, v in enumerate(BULK):
            a, b = self.starts[k], self.starts[k + 1]
            gg = g[a:b]
            cum = np.cumsum(v.status)
            self.status[a:b] = np.minimum(np.searchsorted(cum / cum[-1], self.h.unit(gg, 2), side="right"), 4)
            cw = np.cumsum([c[2] for c in v.classes])
            pick = np.minimum(np.searchsorted(cw / cw[-1], self.h.unit(gg, 3), side="right"), len(v.classes) - 1)
            self.cls[a:b] = len(self.classes) + pick
            self.classes.extend((d, c, t) for d, c, _, t in v.classes)
        self.voc_index = {v.vocabulary_id: k for k, v in enumerate(BULK)}
        # per vocabulary: global indices of standard (S), of tree (S or C) and of valid (S, C, N) concepts
        self.std, self.tree, self.valid = [], [], []
        for k in range(len(BULK)):
            st = self.status[self.starts[k]:self.starts[k + 1]]
            off = self.starts[k]
            self.std.append(np.flatnonzero(st == S) + off)
            self.tree.append(np.flatnonzero(st <= C) + off)
            self.valid.append(np.flatnonzero(st <= N) + off)
        # dates (day indices into _YMD)
        late = self.h.unit(g, 4) < 0.3
        self.start = np.where(late, _D1990 + self.h.mod(g, 5, _D2024 - _D1990), 0).astype(np.int32)
        past = self.start + 1 + self.h.mod(g, 6, 1 << 30) % np.maximum(_DPAST - self.start, 1)
        self.end = np.where(self.status >= D, past, _DEND).astype(np.int32)

    # -------------------------------------------------------------- codes and names
    def codes(self, k: int, g: np.ndarray) -> pa.Array:
        """Concept codes of vocabulary ``k`` for global indices ``g`` (unique within the vocabulary)."""
        v, n = BULK[k], int(self.sizes[k])
        i = g - self.starts[k]
        kind = v.code

        def perm(min_digits: int) -> tuple[np.ndarray, int]:
            d = max(min_digits, math.ceil(math.log10(max(n, 10) / 9)) + 1)
            m = 9 * 10 ** d
            return 10 ** d + (i * 1_000_003 + 12_345) % m, d + 1  # 1_000_003 is coprime with 9*10^d

        def s(x):
            return pc.cast(pa.array(x), pa.string())

        def perm10(min_digits: int) -> np.ndarray:  # a permutation of [0, 10^d), d >= min_digits
            return (i * 1_000_003 + 987_654) % 10 ** max(min_digits, math.ceil(math.log10(max(n, 10))))

        letters = pa.array([chr(65 + j) for j in range(26)])
        if kind == "snomed":
            num, _ = perm(6)
            return _join([s(num), s(num % 10)], "00")
        if kind == "rxnorm":
            return s(perm(5)[0])
        if kind == "rxe":
            return _join(["OMOP", s(perm(6)[0])], "")
        if kind == "ndc":
            return pc.utf8_lpad(s(perm10(11)), 11, "0")
        if kind == "loinc":
            num, _ = perm(3)
            return _join([s(num), s(num % 10)], "-")
        if kind in ("icd10", "icd9", "icd9proc"):
            cats = {"icd10": 2600, "icd9": 1000, "icd9proc": 100}[kind]
            cat, sub = i % cats, i // cats
            if kind == "icd10":
                head = _join([letters.take(pa.array(cat // 100)), pc.utf8_lpad(s(cat % 100), 2, "0")], "")
            else:
                head = pc.utf8_lpad(s(cat), 3 if kind == "icd9" else 2, "0")
            tail = _join([".", s(sub - 1)], "")
            return _join([head, pc.if_else(pa.array(sub == 0), None, tail)], "")
        if kind == "pcs":
            alpha = pa.array(list("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"))
            x = (i * 1_000_003 + 7) % 34 ** 7 if n <= 34 ** 7 else i
            digits = [alpha.take(pa.array((x // 34 ** p) % 34)) for p in range(6, -1, -1)]
            return _join(digits, "")
        if kind == "cpt":
            return pc.utf8_lpad(s(perm10(5)), 5, "0")
        if kind == "hcpcs":
            return _join([letters.take(pa.array(i % 26)), pc.utf8_lpad(s(i // 26), 4, "0")], "")
        if kind == "atc":
            x = i
            return _join([letters.take(pa.array(x % 14)), pc.utf8_lpad(s((x // 14) % 100), 2, "0"),
                          letters.take(pa.array((x // 1400) % 26)), letters.take(pa.array((x // 36400) % 26)),
                          pc.utf8_lpad(s(x // 946400), 2, "0")], "")
        if kind == "ucum":
            return _join(["[u_", s(i), "]"], "")
        raise AssertionError(kind)

    def _pick(self, table: pa.Array, g: np.ndarray, salt: int, share: float = 1.0) -> pa.Array:
        idx = self.h.mod(g, salt, len(table))
        if share >= 1.0:
            return table.take(pa.array(idx))
        return table.take(pa.array(idx, mask=self.h.unit(g, salt + 1) >= share))

    def _words(self, g: np.ndarray, salt: int, lo: int, hi: int, table: pa.Array) -> list[pa.Array]:
        count = lo + self.h.mod(g, salt, hi - lo + 1)
        return [table.take(pa.array(self.h.mod(g, salt + 1 + j, len(table)), mask=count <= j))
                for j in range(hi)]

    def names(self, style: str, g: np.ndarray, salt: int = 100) -> pa.Array:
        w, p = self.w, self._pick
        if style == "clinical":
            main = _join([p(w.cap, g, salt), *self._words(g, salt + 10, 1, 6, w.lower)])
            qual = _join(self._words(g, salt + 30, 1, 3, w.lower))
            qual = pc.if_else(pa.array(self.h.unit(g, salt + 40) < 0.7), None, qual)
            return _join([main, qual], ", ")
        if style in ("drug", "drug_box", "drug_upper"):
            ing = _join([p(w.cap, g, salt), p(w.lower, g, salt + 2, 0.2)], " / ")
            parts = [ing, p(w.strength, g, salt + 4), p(w.form, g, salt + 6)]
            if style != "drug_upper":
                parts.append(p(w.brand, g, salt + 8, 0.4))
            if style == "drug_box":
                parts += [p(w.box, g, salt + 10, 0.6), p(w.maker, g, salt + 12, 0.7)]
            out = _join(parts)
            return pc.utf8_upper(out) if style == "drug_upper" else out
        if style == "lab":
            return _join([p(w.cap, g, salt), *self._words(g, salt + 10, 0, 2, w.lower), p(w.prop, g, salt + 20),
                          p(w.system, g, salt + 22), p(w.by, g, salt + 24, 0.3)])
        if style == "atc":
            return _join([p(w.cap, g, salt), *self._words(g, salt + 10, 0, 2, w.lower)])
        if style == "unit":
            per = p(w.lower, g, salt + 4, 0.6)
            return _join([p(w.lower, g, salt), pc.if_else(pc.is_null(per), None, "per"), per])
        raise AssertionError(style)

    # -------------------------------------------------------------- table chunks
    def concept_chunks(self) -> Iterator[pa.Table]:
        """The bulk CONCEPT rows, per vocabulary and chunk."""
        cls_domain = pa.array([c[0] for c in self.classes])
        cls_name = pa.array([c[1] for c in self.classes])
        std = pa.array(_STD, pa.binary()).cast(pa.string())
        inv = pa.array(_INV, pa.binary()).cast(pa.string())
        for k, v in enumerate(BULK):
            for a in range(int(self.starts[k]), int(self.starts[k + 1]), CHUNK):
                g = np.arange(a, min(a + CHUNK, int(self.starts[k + 1])), dtype=np.int64)
                ci = pa.array(self.cls[g])
                st = pa.array(self.status[g])
                yield pa.table({
                    "concept_id": self.ids[g], "concept_name": self.names(v.style, g),
                    "domain_id": cls_domain.take(ci), "vocabulary_id": _const(v.vocabulary_id, len(g)),
                    "concept_class_id": cls_name.take(ci), "standard_concept": std.take(st),
                    "concept_code": self.codes(k, g), "valid_start_date": _YMD[self.start[g]],
                    "valid_end_date": _YMD[self.end[g]], "invalid_reason": inv.take(st)})

    def synonym_chunks(self) -> Iterator[pa.Table]:
        """About one English synonym per bulk concept, plus Chinese (4%) and Finnish (4%) ones."""
        tags = pa.array([f"({c[2]})" if c[2] else None for c in self.classes])
        w = self.w
        for k, v in enumerate(BULK):
            for a in range(int(self.starts[k]), int(self.starts[k + 1]), CHUNK):
                g = np.arange(a, min(a + CHUNK, int(self.starts[k + 1])), dtype=np.int64)
                if v.code == "snomed":  # the fully specified name: name (semantic tag)
                    en = _join([self.names(v.style, g), tags.take(pa.array(self.cls[g]))])
                else:
                    en = self.names(v.style, g, salt=500)
                keep = self.h.unit(g, 40) < 0.93
                yield _syn(self.ids[g][keep], en.filter(pa.array(keep)), K.LANGUAGE_ENGLISH)
                zh = self.h.unit(g, 41) < 0.04
                gz = g[zh]
                yield _syn(self.ids[gz], _join(self._words(gz, 600, 1, 5, w.cjk), ""), K.LANGUAGE_CHINESE)
                fi = self.h.unit(g, 42) < 0.04
                gf = g[fi]
                yield _syn(self.ids[gf], _join([self._pick(w.fi_cap, gf, 700), *self._words(gf, 710, 0, 3, w.fi)]),
                           K.LANGUAGE_FINNISH)

    # -------------------------------------------------------------- relationships and ancestors
    def _parents(self, k: int) -> tuple[np.ndarray, int]:
        nodes = self.tree[k]
        if not BULK[k].hierarchy or len(nodes) < 2:
            return nodes, 0
        return nodes, max(2, math.ceil(len(nodes) ** (1 / 3)))

    def structural(self, fixed_std_ids: np.ndarray) -> Iterator[tuple]:
        """(concept_id_1, concept_id_2, forward relationship index, start day, end day, deprecated) batches."""
        def rows(c1, c2, rel, start=None, end=None, dep=False):
            n = len(c1)
            start = np.zeros(n, np.int32) if start is None else start
            end = np.full(n, _DEND, np.int32) if end is None else end
            return c1, c2, _REL[rel], start, end, dep

        yield rows(fixed_std_ids, fixed_std_ids, "Maps to")
        for k, v in enumerate(BULK):
            std = self.std[k]
            for a in range(0, len(std), CHUNK):
                ids = self.ids[std[a:a + CHUNK]]
                yield rows(ids, ids, "Maps to")
        for k, v in enumerate(BULK):
            if not v.maps_to:
                continue
            targets = [self.std[self.voc_index[t]] for t in v.maps_to]
            block = np.arange(self.starts[k], self.starts[k + 1], dtype=np.int64)
            st = self.status[block]
            # valid non-standard: 1-2 standard targets; deprecated: one deprecated 'Maps to'
            for which, status in ((0, N), (1, D)):
                src = block[st == status]
                if len(src) == 0:
                    continue
                tv = self.h.mod(src, 50, len(targets))
                for t, tg in enumerate(targets):
                    s_t = src[tv == t]
                    if len(tg) == 0 or len(s_t) == 0:
                        continue
                    first = self.h.mod(s_t, 51, len(tg))
                    if status == N:
                        two = (self.h.unit(s_t, 52) < 0.25) & (len(tg) > 1)
                        second = (first + 1 + self.h.mod(s_t, 53, max(len(tg) - 1, 1))) % len(tg)
                        c1 = np.concatenate([s_t, s_t[two]])
                        c2 = np.concatenate([tg[first], tg[second[two]]])
                        yield rows(self.ids[c1], self.ids[c2], "Maps to", self.start[c1])
                    else:
                        yield rows(self.ids[s_t], self.ids[tg[first]], "Maps to", self.start[s_t],
                                   self.end[s_t], True)
        for k, v in enumerate(BULK):  # upgraded concepts: replaced by a valid concept (and mapped to it if S)
            block = np.arange(self.starts[k], self.starts[k + 1], dtype=np.int64)
            src = block[self.status[block] == U]
            pool = self.std[k] if len(self.std[k]) else self.valid[k]
            if len(src) == 0 or len(pool) == 0:
                continue
            repl = pool[self.h.mod(src, 60, len(pool))]
            yield rows(self.ids[src], self.ids[repl], "Concept replaced by", self.end[src])
            if len(self.std[k]):
                yield rows(self.ids[src], self.ids[repl], "Maps to", self.end[src])
        for k in range(len(BULK)):
            nodes, b = self._parents(k)
            for a in range(1, len(nodes) if b else 0, CHUNK):
                p = np.arange(a, min(a + CHUNK, len(nodes)), dtype=np.int64)
                yield rows(self.ids[nodes[p]], self.ids[nodes[p // b]], "Is a")

    def filler(self, pairs: int) -> Iterator[tuple]:
        """``pairs`` attribute relationship rows (forward only), spread over _FILLER by weight."""
        wsum = sum(f[3] for f in _FILLER)
        left = pairs
        for j, (rel, src_v, tgt_v, wt) in enumerate(_FILLER):
            src, tgt = self.tree[self.voc_index[src_v]], self.tree[self.voc_index[tgt_v]]
            want = left if j == len(_FILLER) - 1 else round(pairs * wt / wsum)
            want = min(want, left, len(src) * len(tgt))
            left -= want
            for a in range(0, want, CHUNK):
                q = np.arange(a, min(a + CHUNK, want), dtype=np.int64)
                s = src[q % len(src)]
                r = q // len(src)  # round: distinct targets per source within one relationship
                t = tgt[(self.h.mod(s, 70 + j, len(tgt)) + r) % len(tgt)]
                start = np.where(self.h.unit(q, 80 + j) < 0.7, 0,
                                 _D1990 + self.h.mod(q, 90 + j, _D2024 - _D1990)).astype(np.int32)
                yield self.ids[s], self.ids[t], _REL[rel], start, np.full(len(q), _DEND, np.int32), False

    def structural_count(self, n_fixed_std: int) -> int:
        return sum(len(b[0]) for b in self.structural(np.zeros(n_fixed_std, np.int64)))

    def ancestor_chunks(self, fixed_std_ids: np.ndarray) -> Iterator[pa.Table]:
        yield _anc(fixed_std_ids, fixed_std_ids, np.zeros(len(fixed_std_ids), np.int32))
        for k in range(len(BULK)):
            nodes, b = self._parents(k)
            for a in range(0, len(nodes), CHUNK):
                p = np.arange(a, min(a + CHUNK, len(nodes)), dtype=np.int64)
                desc = self.ids[nodes[p]]
                cur, level = p, 0
                yield _anc(desc, desc, np.zeros(len(p), np.int32))
                while b and len(cur):
                    keep = cur > 0
                    cur, desc = cur[keep] // b, desc[keep]
                    level += 1
                    if len(cur):
                        yield _anc(self.ids[nodes[cur]], desc, np.full(len(cur), level, np.int32))


def _const(value: str | None, n: int) -> pa.Array:
    return pc.fill_null(pa.nulls(n, pa.string()), value) if value is not None else pa.nulls(n, pa.string())


def _syn(ids: np.ndarray, names: pa.Array, language: int) -> pa.Table:
    return pa.table({"concept_id": ids, "concept_synonym_name": names,
                     "language_concept_id": np.full(len(ids), language, np.int64)})


def _anc(anc: np.ndarray, desc: np.ndarray, level: np.ndarray) -> pa.Table:
    return pa.table({"ancestor_concept_id": anc, "descendant_concept_id": desc,
                     "min_levels_of_separation": level, "max_levels_of_separation": level})


def _metadata_names() -> list[tuple[str, str]]:
    """(metadata vocabulary, name) of every metadata concept, in id order."""
    vocabs = [v.vocabulary_id for v in BULK] + list(_FIXED_VOCABS)
    domains = sorted({c[0] for v in BULK for c in v.classes} | {f[2] for f in _FIXED})
    classes = sorted({c[1] for v in BULK for c in v.classes} | {f[4] for f in _FIXED}
                     | {"Vocabulary", "Domain", "Concept Class", "Relationship"})
    out = [("Vocabulary", v) for v in vocabs]
    out += [("Domain", d) for d in domains if d not in _KNOWN_DOMAIN_IDS]
    out += [("Concept Class", c) for c in classes]
    out += [("Relationship", r) for r in _REL_IDS]
    return out


def _domains() -> list[str]:
    return sorted({c[0] for v in BULK for c in v.classes} | {f[2] for f in _FIXED})


def _small_concepts() -> tuple[list[tuple], dict[tuple[str, str], int]]:
    """The fixed and metadata CONCEPT rows (by id) and (metadata vocabulary, name) -> concept id."""
    meta = _metadata_names()
    ids = {key: META_ID_START + i for i, key in enumerate(meta)}
    ids.update({("Domain", d): i for d, i in _KNOWN_DOMAIN_IDS.items() if d in _domains()})
    rows = [(*f, 19700101, 20991231, None) for f in _FIXED]
    rows += [(cid, name, "Metadata", mv, mv, None, "OMOP generated", 19700101, 20991231, None)
             for (mv, name), cid in ids.items()]
    rows.sort(key=lambda r: r[0])
    all_ids = [r[0] for r in rows]
    assert len(set(all_ids)) == len(all_ids) and max(all_ids) < BULK_ID_START
    return rows, ids


# ------------------------------------------------------------------ writing


class _Sink:
    """One tab-separated Athena file: header written by hand (pyarrow quotes it), rows unquoted."""

    def __init__(self, path: Path, header: str, schema: pa.Schema) -> None:
        self.path = path
        self.file = pa.OSFile(str(path), "wb")
        self.file.write(("\t".join(header.split(" ")) + "\n").encode())
        self.writer = pcsv.CSVWriter(self.file, schema, write_options=pcsv.WriteOptions(
            include_header=False, delimiter="\t", quoting_style="none", batch_size=65536))
        self.schema = schema
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        self.writer.write_table(table.cast(self.schema))
        self.rows += table.num_rows

    def close(self) -> None:
        self.writer.close()
        self.file.close()


def _schema(header: str, types: dict[str, pa.DataType]) -> pa.Schema:
    return pa.schema([(c, types.get(c, pa.string())) for c in header.split(" ")])


_I = pa.int64()
_SCHEMAS = {
    "CONCEPT": _schema(_HEADERS["CONCEPT"], {"concept_id": _I, "valid_start_date": pa.int32(),
                                             "valid_end_date": pa.int32()}),
    "CONCEPT_RELATIONSHIP": _schema(_HEADERS["CONCEPT_RELATIONSHIP"], {
        "concept_id_1": _I, "concept_id_2": _I, "valid_start_date": pa.int32(), "valid_end_date": pa.int32()}),
    "CONCEPT_ANCESTOR": _schema(_HEADERS["CONCEPT_ANCESTOR"], {
        "ancestor_concept_id": _I, "descendant_concept_id": _I, "min_levels_of_separation": pa.int32(),
        "max_levels_of_separation": pa.int32()}),
    "CONCEPT_SYNONYM": _schema(_HEADERS["CONCEPT_SYNONYM"], {"concept_id": _I, "language_concept_id": _I}),
    "CONCEPT_CLASS": _schema(_HEADERS["CONCEPT_CLASS"], {"concept_class_concept_id": _I}),
    "DOMAIN": _schema(_HEADERS["DOMAIN"], {"domain_concept_id": _I}),
    "RELATIONSHIP": _schema(_HEADERS["RELATIONSHIP"], {"relationship_concept_id": _I}),
    "VOCABULARY": _schema(_HEADERS["VOCABULARY"], {"vocabulary_concept_id": _I}),
}


def _rel_table(batch: tuple, reverse: bool) -> pa.Table:
    c1, c2, rel, start, end, dep = batch
    n = len(c1)
    if reverse:
        c1, c2, rel = c2, c1, rel + 1
    return pa.table({"concept_id_1": c1, "concept_id_2": c2,
                     "relationship_id": _const(_REL_IDS[rel], n),
                     "valid_start_date": _YMD[start], "valid_end_date": _YMD[end],
                     "invalid_reason": _const("D" if dep else None, n)})


def write_athena_vocabulary(out_dir: str | Path, *, concepts: int = 5_000_000, relationships: int = 30_000_000,
                            seed: int = 0, progress: Callable[[str], None] | None = None) -> dict:
    """Write a synthetic Athena download of ``concepts`` concepts and about ``relationships`` relationship rows.

    Returns a report: ``files`` (file -> data rows), ``bytes`` (file -> size),
    ``vocabularies`` (vocabulary -> concepts), ``relationships_structural``
    (rows the hierarchy, mappings and replacements need), ``seconds``.
    """
    if not MIN_CONCEPTS <= concepts <= MAX_CONCEPTS:
        raise SynthArgumentError(f"concepts must be between {MIN_CONCEPTS:,} and {MAX_CONCEPTS:,}, not {concepts:,}")
    if relationships < 0:
        raise SynthArgumentError(f"relationships must be >= 0, not {relationships:,}")
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    small_concepts, meta_id = _small_concepts()
    gen = _Gen(concepts - len(small_concepts), seed)
    say(f"planned {gen.n:,} bulk concepts in {len(BULK)} vocabularies ({time.perf_counter() - t0:.1f} s)")
    fixed_std = np.array(sorted(f[0] for f in _FIXED if f[5] == "S"), dtype=np.int64)
    domains = _domains()

    report: dict = {"out_dir": str(out), "seed": seed, "files": {}, "bytes": {}}

    def small(name: str, rows: list[tuple]) -> None:
        sink = _Sink(out / f"{name}.csv", _HEADERS[name], _SCHEMAS[name])
        cols = list(zip(*rows)) if rows else [[] for _ in _SCHEMAS[name]]
        sink.write(pa.table({f.name: pa.array(list(c), f.type) for f, c in zip(_SCHEMAS[name], cols)}))
        sink.close()
        report["files"][name + ".csv"] = sink.rows

    # CONCEPT
    t = time.perf_counter()
    sink = _Sink(out / "CONCEPT.csv", _HEADERS["CONCEPT"], _SCHEMAS["CONCEPT"])
    cols = list(zip(*small_concepts))
    sink.write(pa.table({f.name: pa.array(list(c), f.type) for f, c in zip(_SCHEMAS["CONCEPT"], cols)}))
    for chunk in gen.concept_chunks():
        sink.write(chunk)
    sink.close()
    report["files"]["CONCEPT.csv"] = sink.rows
    say(f"CONCEPT: {sink.rows:,} rows ({time.perf_counter() - t:.1f} s)")

    # CONCEPT_SYNONYM
    t = time.perf_counter()
    sink = _Sink(out / "CONCEPT_SYNONYM.csv", _HEADERS["CONCEPT_SYNONYM"], _SCHEMAS["CONCEPT_SYNONYM"])
    sink.write(_syn(np.array([f[0] for f in _FIXED[1:]], np.int64), pa.array([f[1].lower() for f in _FIXED[1:]]),
                    K.LANGUAGE_ENGLISH))
    for chunk in gen.synonym_chunks():
        sink.write(chunk)
    sink.close()
    report["files"]["CONCEPT_SYNONYM.csv"] = sink.rows
    say(f"CONCEPT_SYNONYM: {sink.rows:,} rows ({time.perf_counter() - t:.1f} s)")

    # CONCEPT_RELATIONSHIP: structural rows, then attribute pairs up to the target; each with its reverse
    t = time.perf_counter()
    structural = 2 * gen.structural_count(len(fixed_std))
    pairs = max(0, (relationships - structural) // 2)
    sink = _Sink(out / "CONCEPT_RELATIONSHIP.csv", _HEADERS["CONCEPT_RELATIONSHIP"],
                 _SCHEMAS["CONCEPT_RELATIONSHIP"])
    for batches in (gen.structural(fixed_std), gen.filler(pairs)):
        for batch in batches:
            sink.write(_rel_table(batch, False))
            sink.write(_rel_table(batch, True))
    sink.close()
    report["files"]["CONCEPT_RELATIONSHIP.csv"] = sink.rows
    report["relationships_structural"] = structural
    say(f"CONCEPT_RELATIONSHIP: {sink.rows:,} rows ({time.perf_counter() - t:.1f} s)")

    # CONCEPT_ANCESTOR
    t = time.perf_counter()
    sink = _Sink(out / "CONCEPT_ANCESTOR.csv", _HEADERS["CONCEPT_ANCESTOR"], _SCHEMAS["CONCEPT_ANCESTOR"])
    for chunk in gen.ancestor_chunks(fixed_std):
        sink.write(chunk)
    sink.close()
    report["files"]["CONCEPT_ANCESTOR.csv"] = sink.rows
    say(f"CONCEPT_ANCESTOR: {sink.rows:,} rows ({time.perf_counter() - t:.1f} s)")

    # the small tables
    vocab_names = {v.vocabulary_id: v.name for v in BULK} | _FIXED_VOCABS
    small("VOCABULARY", [(vid, name, "OMOP generated" if vid in _FIXED_VOCABS else f"synthetic {vid}",
                          NONE_VERSION if vid == "None" else f"{vid} synthetic seed {seed}",
                          meta_id[("Vocabulary", vid)]) for vid, name in vocab_names.items()])
    small("DOMAIN", [(d, d, meta_id[("Domain", d)]) for d in domains])
    small("CONCEPT_CLASS", [(c, c, cid) for (mv, c), cid in meta_id.items() if mv == "Concept Class"])
    small("RELATIONSHIP", [(r, name, str(hier), str(hier), rev, meta_id[("Relationship", r)])
                           for fwd, fname, bwd, bname, hier in _PAIRS
                           for r, name, rev in ((fwd, fname, bwd), (bwd, bname, fwd))])
    report["vocabularies"] = {v.vocabulary_id: int(gen.sizes[k]) for k, v in enumerate(BULK)}
    report["bytes"] = {p.name: p.stat().st_size for p in sorted(out.glob("*.csv"))}
    report["total_bytes"] = sum(report["bytes"].values())
    report["files"] = dict(sorted(report["files"].items()))
    report["seconds"] = round(time.perf_counter() - t0, 2)
    return report


__all__ = ["BULK", "BULK_ID_START", "SynthArgumentError", "write_athena_vocabulary"]
