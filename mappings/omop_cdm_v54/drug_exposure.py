"""drug_exposure: routed events whose target domain is Drug (see :mod:`.events`).

Drug orders (opdto/ipdto ORDER_TYPE 1, all drugo rows; NHI Drug codes) land
here, mapped or not (concept 0).  quantity = TOTAL_QTY (opdto, drugo) /
ORDER_QTY (ipdto); days_supply = DRUG_DAY; sig = DRUG_FRE; drug_source_value =
the NHI code; start = the visit's date (dispensing date for pharmacy), end =
start + days_supply - 1 (= start when days_supply is missing or < 1).  Type
32810 claim for hospital orders, 32869 pharmacy claim for drugo.
dose_unit_source_value = UNIT of the drug master (stg_drug; the latest row per
DRUG_ID by VALID_S_DATE), which makes the drug-master row part of the lineage.
"""

from __future__ import annotations

from .events import routed_table_select
from .provenance import staged_sql
from .relations import shared_or_inline

TABLE = "drug_exposure"


def drug_master_sql(shared=None) -> str:
    """One drug-master row per DRUG_ID (latest VALID_S_DATE, then file/row), with its provenance id ``_src``."""
    s = shared_or_inline(shared)
    return f"""
SELECT cb_clean_code(DRUG_ID) AS drug_id, UNIT AS unit, _src
FROM ({staged_sql('drug', s.files_rel())})
WHERE cb_clean_code(DRUG_ID) IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY cb_clean_code(DRUG_ID)
                           ORDER BY VALID_S_DATE DESC NULLS LAST, _source_file DESC, _row_number DESC) = 1
"""


def routed_exprs() -> dict[str, str]:
    end = (
        "CASE WHEN r.days_supply >= 1 THEN r.start_date + CAST(r.days_supply - 1 AS INTEGER) "
        "ELSE r.start_date END"
    )
    return {
        "drug_concept_id": "r.target_concept_id",
        "drug_exposure_start_date": "r.start_date",
        "drug_exposure_end_date": end,
        "drug_type_concept_id": "r.type_concept_id",
        "quantity": "r.quantity",
        "days_supply": "r.days_supply",
        "sig": "r.sig",
        "drug_source_value": "r.raw_code",
        "drug_source_concept_id": "r.source_concept_id",
    }


def _select(families: tuple[str, ...], shared, provenance: bool) -> str:
    return routed_table_select(
        TABLE,
        families,
        {**routed_exprs(), "dose_unit_source_value": "dm.unit"},  # unit from the NHI drug master
        shared,
        provenance,
        extra_from=(
            f"LEFT JOIN ({drug_master_sql(shared)}) dm ON r.vocabulary_id = 'NHI Drug' AND dm.drug_id = r.source_code"
        ),
        extra_prov="CASE WHEN dm.drug_id IS NULL THEN [] ELSE [dm._src] END",
    )


def orders_to_drug_exposure(shared=None, provenance: bool = False) -> str:
    """Claims drug orders (opdto, ipdto) and pharmacy dispensing (drugo)."""
    return _select(("claims",), shared, provenance)


def cancer_to_drug_exposure(shared=None, provenance: bool = False) -> str:
    """Cancer registry treatment codes mapping to a Drug (e.g. chemotherapy, if the vocabulary says so)."""
    return _select(("cancer",), shared, provenance)


MAPPINGS = (orders_to_drug_exposure, cancer_to_drug_exposure)
