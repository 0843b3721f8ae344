"""Raw-file layout of the Taiwan extracts and the staging schema derived from it.

This module is the contract between three parts of the project:

* the synthetic generator (``crossbridge.synth.taiwan``) writes files in this layout;
* the connector (``connectors.taiwan``) reads, types and validates them by it;
* the OMOP mappings (``mappings.omop_cdm_v54``) read the staged Parquet whose
  columns are given by :func:`staging_columns`.

Raw files follow the Health and Welfare Data Science Center (HWDC) naming
(H_NHI_OPDTE, ...), one CSV per file type and period, comma-separated, with a
header line, no quoting (no field contains a comma), CP950 by default.  Claim
files are monthly and carry the ROC year-month in the name (``h_nhi_opdte10301.csv``
is January 2014, i.e. ROC year 103).  Codes are stored without dots,
left-aligned and space-padded to the column width.  Claim dates are Western
(YYYYMMDD / YYYYMM); the biobank files use ROC dates (YYY/MM/DD).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from connectors.layout import (  # noqa: F401  (re-exported: the Taiwan contract in one place)
    ATC,
    COMMON_QUARANTINE_REASONS,
    ICDO3_TOPOGRAPHY,
    PERSON_KEY,
    PROVENANCE,
    C,
    CodeFormat,
    Column,
    Kind,
    Link,
    identify_file,
    staging_columns,
)
from terminology.normalise import ICD10_START


@dataclass(frozen=True)
class FileType:
    key: str  # staging table name, e.g. "opdte"
    hwdc_name: str  # e.g. "H_NHI_OPDTE"
    nhird_name: str  # older NHIRD research-database name, e.g. "CD"
    period: Literal["month", "year", "none"]  # file split; claim files are monthly
    columns: tuple[Column, ...]
    description: str

    delimiter = ","
    encoding = "cp950"
    null_tokens: tuple[str, ...] = ()
    unique_key: tuple[str, ...] = ()  # staged columns identifying a row after consolidation
    links: tuple[Link, ...] = ()  # parent rows this file type's rows refer to

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def source_name(self) -> str:
        return self.hwdc_name

    def file_name(self, roc_year: int | None = None, month: int | None = None) -> str:
        """File name for one period: ``h_nhi_opdte10301.csv`` (ROC 103, January)."""
        stem = self.hwdc_name.lower()
        if self.period == "month":
            return f"{stem}{roc_year:03d}{month:02d}.csv"
        if self.period == "year":
            return f"{stem}{roc_year:03d}.csv"
        return f"{stem}.csv"

    @property
    def file_pattern(self) -> re.Pattern[str]:
        stem = re.escape(self.hwdc_name.lower())
        if self.period == "month":
            return re.compile(rf"^{stem}(\d{{3}})(0[1-9]|1[0-2])\.csv$")
        if self.period == "year":
            return re.compile(rf"^{stem}(\d{{3}})\.csv$")
        return re.compile(rf"^{stem}\.csv$")




# Code shapes (staged: no dots, padding stripped).  Claims switched from ICD-9-CM to
# ICD-10-CM/PCS on 2016-01-01, in the same columns; the service date decides the era.
ICD10_FROM = ICD10_START.isoformat()
ICD9CM = CodeFormat(  # 001-999 (3-5 digits), V01-V91, E000-E039 / E800-E999
    "ICD-9-CM", r"[0-9]{3}[0-9]{0,2}|V[0-9]{2}[0-9]{0,2}|E(0[0-3][0-9]|[89][0-9]{2})[0-9]?", until=ICD10_FROM)
ICD10CM_SHAPE = r"[A-TV-Z][0-9][0-9A-Z][0-9A-Z]{0,4}"  # 3-7 characters: E119, J45909
ICD10CM = CodeFormat("ICD-10-CM", ICD10CM_SHAPE, since=ICD10_FROM)
ICD9PROC = CodeFormat("ICD-9-CM procedure", r"[0-9]{2}[0-9]{0,2}", until=ICD10_FROM)  # 3606
ICD10PCS = CodeFormat("ICD-10-PCS", r"[0-9A-HJ-NP-Z]{7}", since=ICD10_FROM)  # 0DTJ4ZZ (no I, no O)
NHI_DRUG = CodeFormat("NHI drug code", r"[A-Z][A-Z0-9][0-9]{8}")  # 10 characters: AC46525100, A000015421
NHI_FEE = CodeFormat("NHI fee code", r"[0-9A-Z][0-9]{4}[A-Z]")  # 6 characters: 08011C, 33070B
NHI_MATERIAL = CodeFormat("NHI special material code", r"[A-Z]{3}[0-9A-Z]{5,9}")  # FBN0201A (unverified shape)
ORDER_CODES = (NHI_DRUG, NHI_FEE, NHI_MATERIAL)
HOSPITAL = CodeFormat("NHI hospital code", r"[0-9]{10}")
ORDER_TYPE = CodeFormat("NHI order type", r"[0-9A-Z]")  # 1 drug, 2 treatment, 3 special material, ...
# cause of death: ICD-8 1971-1980, ICD-9 1981-2007, WHO ICD-10 from 2008 (by the date of death)
DEATH_ICD8 = CodeFormat("ICD-8", r"[0-9]{3}[0-9]?|E[89][0-9]{2}[0-9]?", until="1981-01-01")
DEATH_ICD9 = CodeFormat("ICD-9", r"[0-9]{3}[0-9]?|V[0-9]{2}[0-9]?|E[89][0-9]{2}[0-9]?", since="1981-01-01",
                        until="2008-01-01")
DEATH_ICD10 = CodeFormat("ICD-10", r"[A-Z][0-9]{2}[0-9A-Z]?[0-9A-Z]?", since="2008-01-01")
ICDO3_HISTBEH = CodeFormat("ICD-O-3 morphology + behaviour", r"[89][0-9]{3}[012369]")  # 81403
_DX = (ICD9CM, ICD10CM)  # diagnoses (ICD9CM_n)
_PX = (ICD9PROC, ICD10PCS)  # procedures (ICD_OP_CODEn)
SEX = ("1", "2", "9")  # 1 male, 2 female, 9 unknown

# The visit key: FEE_YM + APPL_TYPE + HOSP_ID + APPL_DATE + CASE_TYPE + SEQ_NO.
VISIT_KEY = ("FEE_YM", "APPL_TYPE", "HOSP_ID", "APPL_DATE", "CASE_TYPE", "SEQ_NO")
_KEY_COLUMNS = (
    C("FEE_YM", "ym", required=True),
    C("APPL_TYPE", "code", 1, required=True, values=("1", "2")),  # 1 original claim, 2 supplementary claim
    C("HOSP_ID", "code", 10, required=True, formats=HOSPITAL),
    C("APPL_DATE", "date", required=True),
    C("CASE_TYPE", "code", 2, required=True),
    C("SEQ_NO", "int", required=True),
)
ICD_WIDTH = 7  # ICD-9-CM (<=5) and ICD-10-CM (<=7) share the ICD9CM_n columns
OP_WIDTH = 7
ORDER_CODE_WIDTH = 12  # NHI drug codes are 10 characters, fee/procedure codes 6

ENROL = FileType(
    "enrol", "H_NHI_ENROL", "ID", "year",
    (
        C("ID", "national_id", 10, required=True),
        C("ID_BIRTH_Y", "year", required=True),
        C("ID_S", "code", 1, required=True, values=SEX),  # 1 male, 2 female, 9 unknown
        C("PREM_YM", "ym", required=True),  # premium month of this enrolment record
        # 1 active 2 suspended 3 out 4 withdrawn 5 death
        C("ID_STATUS", "code", 1, required=True, values=("1", "2", "3", "4", "5")),
        C("AREA_NO_I", "code", 4),  # region code of the insured unit
    ),
    "Enrolment: one row per person per year of insurance (and one at each status change).",
)

OPDTE = FileType(
    "opdte", "H_NHI_OPDTE", "CD", "month",
    _KEY_COLUMNS
    + (
        C("ID", "national_id", 10, required=True),
        C("ID_BIRTH_Y", "year"),
        C("ID_S", "code", 1, values=SEX),
        C("FUNC_TYPE", "code", 2),  # department
        C("FUNC_DATE", "date", required=True),
        C("ICD9CM_1", "code", ICD_WIDTH, formats=_DX, era_column="FUNC_DATE"),
        C("ICD9CM_2", "code", ICD_WIDTH, formats=_DX, era_column="FUNC_DATE"),
        C("ICD9CM_3", "code", ICD_WIDTH, formats=_DX, era_column="FUNC_DATE"),
        C("ICD_OP_CODE1", "code", OP_WIDTH, formats=_PX, era_column="FUNC_DATE"),
        C("ICD_OP_CODE2", "code", OP_WIDTH, formats=_PX, era_column="FUNC_DATE"),
        C("DRUG_DAY", "int"),
        C("PRSN_ID", "code", 10),  # physician (already de-identified by the HWDC)
        C("T_DOT", "int"),  # total claimed points
    ),
    "Outpatient visits (CD).",
    unique_key=VISIT_KEY,
)

OPDTO = FileType(
    "opdto", "H_NHI_OPDTO", "OO", "month",
    _KEY_COLUMNS
    + (
        C("ORDER_SEQ_NO", "int", required=True),
        C("ORDER_TYPE", "code", 1, required=True, formats=ORDER_TYPE),  # 1 drug, 2 treatment, 3 special material, ...
        C("DRUG_NO", "code", ORDER_CODE_WIDTH, required=True, formats=ORDER_CODES),
        C("DRUG_USE", "decimal"),
        C("DRUG_FRE", "code", 8),  # QD, BID, TID, QID, HS, PRN ...
        C("TOTAL_QTY", "decimal"),
        C("DRUG_DAY", "int"),
    ),
    "Outpatient orders (OO).",
    unique_key=VISIT_KEY + ("ORDER_SEQ_NO",),
    links=(Link("opdte", VISIT_KEY),),
)

IPDTE = FileType(
    "ipdte", "H_NHI_IPDTE", "DD", "month",
    _KEY_COLUMNS
    + (
        C("ID", "national_id", 10, required=True),
        C("ID_BIRTH_Y", "year"),
        C("ID_S", "code", 1, values=SEX),
        C("FUNC_TYPE", "code", 2),
        C("IN_DATE", "date", required=True),
        C("OUT_DATE", "date"),  # empty while still admitted at the end of the segment
        C("APPL_BEG_DATE", "date", required=True),  # billing segment start
        C("APPL_END_DATE", "date", required=True),  # billing segment end
        C("ICD9CM_1", "code", ICD_WIDTH, formats=_DX, era_column="APPL_BEG_DATE"),
        C("ICD9CM_2", "code", ICD_WIDTH, formats=_DX, era_column="APPL_BEG_DATE"),
        C("ICD9CM_3", "code", ICD_WIDTH, formats=_DX, era_column="APPL_BEG_DATE"),
        C("ICD9CM_4", "code", ICD_WIDTH, formats=_DX, era_column="APPL_BEG_DATE"),
        C("ICD9CM_5", "code", ICD_WIDTH, formats=_DX, era_column="APPL_BEG_DATE"),
        C("ICD_OP_CODE1", "code", OP_WIDTH, formats=_PX, era_column="APPL_BEG_DATE"),
        C("ICD_OP_CODE2", "code", OP_WIDTH, formats=_PX, era_column="APPL_BEG_DATE"),
        C("ICD_OP_CODE3", "code", OP_WIDTH, formats=_PX, era_column="APPL_BEG_DATE"),
        C("ICD_OP_CODE4", "code", OP_WIDTH, formats=_PX, era_column="APPL_BEG_DATE"),
        C("ICD_OP_CODE5", "code", OP_WIDTH, formats=_PX, era_column="APPL_BEG_DATE"),
        C("TRAN_CODE", "code", 1),  # discharge outcome: 4 death, 6 transfer, 1 home ...
        C("E_BED_DAY", "int"),
        C("S_BED_DAY", "int"),
    ),
    "Inpatient admissions (DD); long stays come as monthly billing segments.",
    unique_key=VISIT_KEY,  # one claim per billing segment
)

IPDTO = FileType(
    "ipdto", "H_NHI_IPDTO", "DO", "month",
    _KEY_COLUMNS
    + (
        C("ORDER_SEQ_NO", "int", required=True),
        C("ORDER_TYPE", "code", 1, required=True, formats=ORDER_TYPE),
        C("ORDER_CODE", "code", ORDER_CODE_WIDTH, required=True, formats=ORDER_CODES),
        C("DRUG_FRE", "code", 8),
        C("ORDER_QTY", "decimal"),
        C("DRUG_DAY", "int"),
    ),
    "Inpatient orders (DO).",
    unique_key=VISIT_KEY + ("ORDER_SEQ_NO",),
    links=(Link("ipdte", VISIT_KEY),),
)

DRUGE = FileType(
    "druge", "H_NHI_DRUGE", "GD", "month",
    _KEY_COLUMNS
    + (
        C("ID", "national_id", 10, required=True),
        C("ID_BIRTH_Y", "year"),
        C("ID_S", "code", 1, values=SEX),
        C("FUNC_DATE", "date", required=True),  # dispensing date
        C("R_HOSP_ID", "code", 10, formats=HOSPITAL),  # prescribing hospital
        C("PRSN_ID", "code", 10),  # pharmacist
        C("DRUG_DAY", "int"),
    ),
    "Contracted-pharmacy dispensing (GD).",
    unique_key=VISIT_KEY,
)

DRUGO = FileType(
    "drugo", "H_NHI_DRUGO", "GO", "month",
    _KEY_COLUMNS
    + (
        C("ORDER_SEQ_NO", "int", required=True),
        C("DRUG_NO", "code", ORDER_CODE_WIDTH, required=True, formats=ORDER_CODES),
        C("DRUG_USE", "decimal"),
        C("DRUG_FRE", "code", 8),
        C("TOTAL_QTY", "decimal"),
        C("DRUG_DAY", "int"),
    ),
    "Contracted-pharmacy dispensing orders (GO).",
    unique_key=VISIT_KEY + ("ORDER_SEQ_NO",),
    links=(Link("druge", VISIT_KEY),),
)

DRUG = FileType(
    "drug", "H_NHI_DRUG", "DRUG", "none",
    (
        C("DRUG_ID", "code", 10, required=True, formats=NHI_DRUG),
        C("DRUG_NAME_E", "str"),
        C("DRUG_NAME_C", "str"),  # Chinese name
        C("ATC_CODE", "code", 7, formats=ATC),
        C("UNIT", "code", 4),
        C("VALID_S_DATE", "date"),
        C("VALID_E_DATE", "date"),
    ),
    "Drug master: NHI drug code with its ATC code.",
    unique_key=("DRUG_ID", "VALID_S_DATE"),  # a code may come back with a new validity period
)

HOSB = FileType(
    "hosb", "H_NHI_HOSB", "HOSB", "none",
    (
        C("HOSP_ID", "code", 10, required=True, formats=HOSPITAL),
        C("HOSP_NAME", "str"),  # Chinese name
        # 1 medical centre, 2 regional, 3 district, 4 clinic, 5 pharmacy
        C("HOSP_CONT_TYPE", "code", 1, values=("1", "2", "3", "4", "5")),
        C("AREA_NO_H", "code", 4),
        C("HOSP_OPEN_DATE", "date"),
    ),
    "Facilities (HOSB).",
    unique_key=("HOSP_ID",),
)

DEATH = FileType(
    "death", "H_OST_DEATH", "DEATH", "none",
    (
        C("ID", "national_id", 10, required=True),
        C("ID_S", "code", 1, values=SEX),
        C("ID_BIRTH_Y", "year"),
        C("D_DATE", "date", required=True),
        # ICD-8 underlying cause (1971-1980), ICD-9 (1981-2007); empty from 2008 (read as ICD-10 if not)
        C("D_CODE", "code", 5, formats=(DEATH_ICD8, DEATH_ICD9, DEATH_ICD10), era_column="D_DATE"),
        C("ICD10", "code", 7, formats=DEATH_ICD10, era_column="D_DATE"),  # ICD-10 underlying cause (2008 on)
    ),
    "Cause of death.",
    unique_key=(PERSON_KEY,),
)

CANCER = FileType(
    "cancer", "H_HPA_TCR", "TCR", "none",
    (
        C("ID", "national_id", 10, required=True),
        C("DIAG_DT", "partial_date", required=True),  # unknown parts written 99
        C("CASITE", "code", 4, required=True, formats=ICDO3_TOPOGRAPHY),  # ICD-O-3 topography without dot, e.g. C349
        C("HISTBEH", "code", 5, required=True, formats=ICDO3_HISTBEH),  # morphology (4) + behaviour (1), e.g. 81403
        C("SURG_CODE", "code", 2),
        C("SURG_DATE", "date"),
        C("RT_CODE", "code", 2),
        C("RT_DATE", "date"),
        C("CHEMO_CODE", "code", 2),
        C("CHEMO_DATE", "date"),
    ),
    "Taiwan Cancer Registry (long form, simplified).",
)

BIOBANK_PARTICIPANT = FileType(
    "bb_participant", "NBCT_PARTICIPANT", "NBCT", "none",
    (
        C("PARTICIPANT_ID", "code", 12, required=True),
        C("ID", "national_id", 10, required=True),
        C("BIOBANK_ID", "code", 4, required=True),  # member biobank of the consortium
        C("BIOBANK_NAME", "str"),
        C("CONSENT_TYPE", "code", 8, required=True),  # BROAD
        C("CONSENT_DATE", "roc_date", required=True),
        C("WITHDRAW_DATE", "roc_date"),
    ),
    "National Biobank Consortium of Taiwan: participants with their broad consent.",
    unique_key=("PARTICIPANT_ID",),
)

BIOBANK_SPECIMEN = FileType(
    "bb_specimen", "NBCT_SPECIMEN", "NBCT", "none",
    (
        C("SPECIMEN_ID", "code", 14, required=True),
        C("PARTICIPANT_ID", "code", 12, required=True),
        C("SPECIMEN_TYPE", "code", 8, required=True),  # mapped by terminology: an unknown type is unmapped, not bad
        C("COLLECT_DATE", "roc_date", required=True),
        C("DIAG_CODE", "code", 7, formats=CodeFormat("ICD-10-CM", ICD10CM_SHAPE)),  # linked diagnosis (any date)
        C("BIOBANK_ID", "code", 4),
    ),
    "National Biobank Consortium of Taiwan: specimens.",
    unique_key=("SPECIMEN_ID",),
    links=(Link("bb_participant", ("PARTICIPANT_ID",)),),
)

FILE_TYPES: tuple[FileType, ...] = (
    ENROL, OPDTE, OPDTO, IPDTE, IPDTO, DRUGE, DRUGO, DRUG, HOSB, DEATH, CANCER,
    BIOBANK_PARTICIPANT, BIOBANK_SPECIMEN,
)
BY_KEY = {ft.key: ft for ft in FILE_TYPES}



def identify(file_name: str) -> FileType | None:
    """The file type a landing-zone file name belongs to, or None."""
    return identify_file(FILE_TYPES, file_name)




# Quarantine reason codes: the connector writes these, the generator's ground
# truth names them, the run summary counts by them.
QUARANTINE_REASONS = {
    **COMMON_QUARANTINE_REASONS,
    "wrong_encoding": "the line is valid UTF-8 text inside a CP950 file",
    "orphan_order": "an order row whose visit key matches no staged visit",
    "orphan_specimen": "a biobank specimen whose participant matches no staged participant",
}
