"""Raw-file layout of the Finnish register extracts and the staging schema derived from it.

The contract between the synthetic generator (``crossbridge.synth.finland``),
the connector (``connectors.finland``) and the OMOP mappings
(``mappings.omop_cdm_v54``), as :mod:`connectors.taiwan.layout` is for Taiwan.

Register extracts (the shape THL, Kela, Statistics Finland and the Finnish
Cancer Registry deliver to a permit holder): one file per register and, for
the care registers and drug purchases, per statistical year; ``;``-separated,
Latin-1, a header line, no quoting (no field holds a ``;``), dates
``dd.mm.yyyy`` (care-register times ``dd.mm.yyyy hh:mm``), decimals with a comma
(``12,50``).  Person columns (TNRO in THL registers, HETU elsewhere) hold the
henkilötunnus; the connector validates it and replaces it at once by the site
pseudonym.

Codes are written as the registers write them: Finnish ICD-10 without dots,
with an optional Finnish 5th character and with combination codes (``+`` cause
/ dagger, ``*`` symptom / asterisk, ``&`` external cause, ``#`` ATC);
ICD-9 (Finnish, 4 digits + letter, ``6269X``) 1987-1995 and ICD-8 (5 digits)
before 1987; NCSP-F procedure codes; ICPC-2 (process codes start with ``-``);
VNR package numbers as 6 digits with leading zeros; ATC; ICD-O-3 topography
without dot, morphology (4 digits) and behaviour (1 digit) in separate columns.

The FinnGen longitudinal file is a second accepted layout for the same site:
tab-separated, ``NA`` for missing, already pseudonymous ``FINNGENID`` (re-keyed
with the site secret; its persons are not linked to henkilötunnus persons).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from connectors.layout import (
    ATC,
    COMMON_QUARANTINE_REASONS,
    ICDO3_TOPOGRAPHY,
    PERSON_KEY,
    PROVENANCE,
    C,
    CodeFormat,
    Column,
    Link,
    identify_file,
    staging_columns,
)
from terminology.fi_icd10 import PATTERN as FI_ICD10_PATTERN

__all__ = [
    "BY_KEY", "C", "Column", "FILE_TYPES", "FileType", "PERSON_KEY", "PROVENANCE", "QUARANTINE_REASONS",
    "identify", "staging_columns",
]


@dataclass(frozen=True)
class FileType:
    key: str  # staging table name, e.g. "hilmo"
    stem: str  # file-name stem, e.g. "thl_hilmo"
    register: str  # keeper and register, for messages and docs
    period: Literal["year", "none"]  # per statistical year (thl_hilmo_2019.csv) or one file
    columns: tuple[Column, ...]
    description: str
    delimiter: str = ";"
    encoding: str = "latin-1"
    null_tokens: tuple[str, ...] = ()
    extension: str = "csv"
    unique_key: tuple[str, ...] = ()  # staged columns identifying a row after consolidation
    links: tuple[Link, ...] = ()  # parent rows this file type's rows refer to

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def source_name(self) -> str:
        return self.stem.upper()

    def file_name(self, year: int | None = None) -> str:
        """File name for one period: ``thl_hilmo_2019.csv``; ``kela_erko.csv``."""
        if self.period == "year":
            return f"{self.stem}_{year:04d}.{self.extension}"
        return f"{self.stem}.{self.extension}"

    @property
    def file_pattern(self) -> re.Pattern[str]:
        stem, ext = re.escape(self.stem), re.escape(self.extension)
        if self.period == "year":
            return re.compile(rf"^{stem}_(\d{{4}})\.{ext}$")
        return re.compile(rf"^{stem}(_[a-z0-9]+)*\.{ext}$")


CODE = 16  # generous width: combination codes such as E113+H360 or S7200&W19

# The ICD era of a code follows its event date: ICD-10 from 1996-01-01, ICD-9 from 1987-01-01, ICD-8 before.
ICD10_FROM = "1996-01-01"
ICD9_FROM = "1987-01-01"
# Code shapes as the registers write them (no dots).
ICD10FI = CodeFormat("ICD-10 (Finnish)", FI_ICD10_PATTERN.strip("^$"))  # with combination codes: E113+H360
ICD9FI = CodeFormat("ICD-9 (Finnish)", r"[0-9EV][0-9]{2}[0-9]?[A-Z]?")  # 4 digits + letter: 6269X, 2500B
ICD8FI = CodeFormat("ICD-8 (Finnish)", r"E?[0-9]{3}[0-9]{0,2}")  # up to 5 digits
# the three eras, for a column whose ``era_column`` gives the event date
ICD_FI_ERAS = (
    CodeFormat(ICD8FI.system, ICD8FI.pattern, until=ICD9_FROM),
    CodeFormat(ICD9FI.system, ICD9FI.pattern, since=ICD9_FROM, until=ICD10_FROM),
    CodeFormat(ICD10FI.system, ICD10FI.pattern, since=ICD10_FROM),
)
NCSP = CodeFormat("NCSP-F", r"[A-Z][0-9A-Z]{3,5}")  # JEA00, SB211 (also SPAT action codes in Avohilmo)
ICPC2 = CodeFormat("ICPC-2", r"[A-Z][0-9]{2}|-[0-9]{2}")  # T90; process codes -30
VNR = CodeFormat("VNR", r"[0-9]{6}")  # Nordic article number with leading zeros
KELA_RIGHT = CodeFormat("Kela special reimbursement right", r"[0-9]{3}")  # 103
MUNICIPALITY = CodeFormat("municipality", r"[0-9]{3}")  # 091 Helsinki
CONTACT_TYPE = CodeFormat("Avohilmo contact type", r"R[0-9]{2}")  # R10 office visit
SERVICE_TYPE = CodeFormat("Avohilmo service type", r"T[0-9]{2}")  # T11 outpatient care
ICDO3_MORPHOLOGY = CodeFormat("ICD-O-3 morphology", r"[89][0-9]{3}")  # 8500
DIAGNOSIS_FIELDS = ("PDGO", "PDGE", "SDGO", "SDGE", "ULKSYY")

POPULATION = FileType(
    "population", "dvv_vaesto", "Digital and Population Data Services Agency: population register", "none",
    (
        C("HETU", "hetu", 11, required=True),
        C("SUKUPUOLI", "code", 1, required=True, values=("1", "2")),  # 1 male, 2 female
        C("SYNTYMAPV", "fi_date", required=True, earliest_year=1800),  # '+' henkilötunnus: born in the 1800s
        C("KOTIKUNTA", "code", 3, formats=MUNICIPALITY),  # municipality number, e.g. 091 Helsinki
        C("KUNTA_NIMI", "str"),  # municipality name (Latin-1: Hämeenlinna, Jyväskylä)
        C("KUOLINPV", "fi_date"),
        C("MAASTAMUUTTOPV", "fi_date"),  # emigration date
    ),
    "Population register: one row per person (birth, sex, home municipality, death, emigration).",
    unique_key=(PERSON_KEY,),
)

HILMO = FileType(
    "hilmo", "thl_hilmo", "THL: Care Register for Health Care (Hilmo)", "year",
    (
        C("HILMO_ID", "code", 12, required=True),  # episode id, unique in the register
        C("TNRO", "hetu", 11, required=True),
        C("TUPVA", "fi_date", required=True),  # admission / visit date (with time)
        C("LPVM", "fi_date"),  # discharge date; empty while still in care at the end of the year
        C("PALA", "code", 3, required=True),  # service type: 1 ward, 5 day surgery, 91 outpatient, 93 emergency
        C("EA", "code", 3),  # specialty (erikoisala): 10 internal medicine, 20 surgery, ...
        C("PALTU", "code", 5),  # provider (palveluntuottaja)
        C("KIIREELLISYYS", "code", 1, values=("P", "E")),  # P emergency (päivystys), E elective
    ),
    "Hilmo care episodes (specialist inpatient and outpatient care).",
    unique_key=("HILMO_ID",),
)

HILMO_DIAG = FileType(
    "hilmo_diag", "thl_hilmo_dg", "THL: Hilmo diagnoses (long table)", "year",
    (
        C("HILMO_ID", "code", 12, required=True),
        # PDGO/PDGE main (symptom/cause part), SDGO/SDGE secondary, ULKSYY
        C("KENTTA", "code", 6, required=True, values=DIAGNOSIS_FIELDS),
        C("N", "int", required=True),  # order: 0 = main diagnosis, 1.. secondary
        # Finnish ICD-10 / ICD-9 / ICD-8 as written, no dots; the era: the episode's discharge (else admission) date
        C("KOODI", "code", CODE, required=True, formats=ICD_FI_ERAS, era_column=("hilmo.LPVM", "hilmo.TUPVA")),
    ),
    "Hilmo diagnoses: one row per code part; a dagger/asterisk pair shares N (PDGE cause + PDGO symptom).",
    unique_key=("HILMO_ID", "KENTTA", "N"),
    links=(Link("hilmo", ("HILMO_ID",)),),
)

HILMO_PROC = FileType(
    "hilmo_proc", "thl_hilmo_toimp", "THL: Hilmo procedures", "year",
    (
        C("HILMO_ID", "code", 12, required=True),
        C("N", "int", required=True),  # order: 0 = main procedure
        C("TOIMP", "code", 8, required=True, formats=NCSP),  # NCSP-F code, e.g. JEA00
        C("TOIMPPVM", "fi_date"),  # procedure date (empty: the admission date)
    ),
    "Hilmo procedures (NCSP-F).",
    unique_key=("HILMO_ID", "N"),
    links=(Link("hilmo", ("HILMO_ID",)),),
)

AVOHILMO = FileType(
    "avohilmo", "thl_avohilmo", "THL: Register of Primary Health Care Visits (Avohilmo)", "year",
    (
        C("AVOHILMO_ID", "code", 14, required=True),
        C("TNRO", "hetu", 11, required=True),
        C("KAYNTI_ALKOI", "fi_date", required=True),  # visit start (with time)
        # contact type: R10 office visit, R20 home, R52 video ...
        C("KAYNTI_YHTEYSTAPA", "code", 3, required=True, formats=CONTACT_TYPE),
        C("KAYNTI_PALVELUMUOTO", "code", 3, formats=SERVICE_TYPE),  # service type: T11 outpatient care, T40 home care
        C("KAYNTI_AMMATTI", "code", 6),  # professional (occupation code): 221 physician, 2221 nurse
        C("KAYNTI_KIIREELLISYYS", "code", 1, values=("1", "2")),  # 1 urgent, 2 not urgent
    ),
    "Avohilmo primary-care contacts (2011 on).",
    unique_key=("AVOHILMO_ID",),
)

AVOHILMO_ICD10 = FileType(
    "avohilmo_icd10", "thl_avohilmo_icd10", "THL: Avohilmo ICD-10 diagnoses", "year",
    (
        C("AVOHILMO_ID", "code", 14, required=True),
        C("JARJESTYS", "int", required=True),  # order: 0 = main
        # Finnish ICD-10, combination codes written whole (E113+H360)
        C("ICD10", "code", CODE, required=True, formats=ICD10FI),
    ),
    "Avohilmo ICD-10 diagnoses.",
    unique_key=("AVOHILMO_ID", "JARJESTYS"),
    links=(Link("avohilmo", ("AVOHILMO_ID",)),),
)

AVOHILMO_ICPC2 = FileType(
    "avohilmo_icpc2", "thl_avohilmo_icpc2", "THL: Avohilmo ICPC-2 reasons for encounter", "year",
    (
        C("AVOHILMO_ID", "code", 14, required=True),
        C("JARJESTYS", "int", required=True),
        C("ICPC2", "code", 4, required=True, formats=ICPC2),  # T90, K86; process codes start with '-' (-30, -50)
    ),
    "Avohilmo ICPC-2 codes (diagnoses and process codes).",
    unique_key=("AVOHILMO_ID", "JARJESTYS"),
    links=(Link("avohilmo", ("AVOHILMO_ID",)),),
)

AVOHILMO_PROC = FileType(
    "avohilmo_proc", "thl_avohilmo_toimp", "THL: Avohilmo procedures", "year",
    (
        C("AVOHILMO_ID", "code", 14, required=True),
        C("JARJESTYS", "int", required=True),
        C("TOIMP", "code", 8, required=True, formats=NCSP),  # NCSP-F (or SPAT primary-care action code)
    ),
    "Avohilmo procedures.",
    unique_key=("AVOHILMO_ID", "JARJESTYS"),
    links=(Link("avohilmo", ("AVOHILMO_ID",)),),
)

KELA_PURCHASE = FileType(
    "kela_purchase", "kela_ostot", "Kela: reimbursed drug purchases", "year",
    (
        C("HETU", "hetu", 11, required=True),
        C("OSTOPV", "fi_date", required=True),  # purchase date
        C("ATC", "code", 7, formats=ATC),
        C("SAIR", "code", 3, formats=KELA_RIGHT),  # special reimbursement right (SK1) it was reimbursed under
        C("VNRO", "code", 6, required=True, formats=VNR),  # Nordic article number, 6 digits with leading zeros
        C("PLKM", "fi_decimal"),  # number of packages (negative: a returned purchase)
        C("KORV_EUR", "fi_decimal"),  # reimbursement, euros
        C("KAKORV_EUR", "fi_decimal"),  # additional reimbursement, euros
        C("LAJI", "code", 2),  # purchase type: 1 normal, 2 dose dispensing (annosjakelu)
    ),
    "Kela drug purchases (outpatient pharmacy, reimbursed).",
)

KELA_REIMB = FileType(
    "kela_reimb", "kela_erko", "Kela: special reimbursement rights", "none",
    (
        C("HETU", "hetu", 11, required=True),
        C("SK1", "code", 3, required=True, formats=KELA_RIGHT),  # right code, e.g. 103 diabetes
        C("DIAG", "code", CODE, formats=ICD10FI),  # the diagnosis the right was granted for (Finnish ICD-10)
        C("ALPV", "fi_date", required=True),  # start
        C("LOPV", "fi_date"),  # end (empty: in force)
    ),
    "Kela special reimbursement rights (erityiskorvausoikeudet).",
)

CANCER = FileType(
    "fcr", "syoparekisteri", "Finnish Cancer Registry", "none",
    (
        C("HETU", "hetu", 11, required=True),
        C("DG_PVM", "fi_date", required=True),  # diagnosis date
        C("TOPO", "code", 4, required=True, formats=ICDO3_TOPOGRAPHY),  # ICD-O-3 topography without dot, e.g. C509
        C("MORFO", "code", 4, required=True, formats=ICDO3_MORPHOLOGY),  # ICD-O-3 morphology, e.g. 8500
        C("BEH", "code", 1, required=True, values=("0", "1", "2", "3", "6", "9")),  # behaviour: 3 malignant, 2 in situ
        C("SIVU", "code", 1),  # laterality: 1 right, 2 left, 9 unknown
    ),
    "Finnish Cancer Registry: one row per tumour.",
)

DEATH = FileType(
    "cod", "kuolemansyyt", "Statistics Finland: causes of death", "none",
    (
        C("HETU", "hetu", 11, required=True),
        C("KPV", "fi_date", required=True),  # date of death
        C("TPKS", "code", CODE, formats=ICD_FI_ERAS, era_column="KPV"),  # underlying cause
        C("VKS", "code", CODE, formats=ICD_FI_ERAS, era_column="KPV"),  # immediate cause
        C("M1", "code", CODE, formats=ICD_FI_ERAS, era_column="KPV"),  # contributing causes
        C("M2", "code", CODE, formats=ICD_FI_ERAS, era_column="KPV"),
        C("M3", "code", CODE, formats=ICD_FI_ERAS, era_column="KPV"),
        C("M4", "code", CODE, formats=ICD_FI_ERAS, era_column="KPV"),
    ),
    "Causes of death (ICD-8 before 1987, ICD-9 1987-1995, ICD-10 from 1996).",
    unique_key=(PERSON_KEY,),
)

BIOBANK_SAMPLE = FileType(
    "fi_bb_sample", "biopankki_naytteet", "Finnish biobanks: samples", "none",
    (
        C("NAYTE_ID", "code", 16, required=True),  # sample id
        C("HETU", "hetu", 11, required=True),
        C("BIOPANKKI", "code", 8, required=True),  # biobank, e.g. HELB, AURIA, THLB
        C("NAYTETYYPPI", "code", 10, required=True),  # mapped by terminology: an unknown type is unmapped, not bad
        C("KERAYSPV", "fi_date", required=True),  # collection date
    ),
    "Biobank samples.",
    unique_key=("NAYTE_ID",),
)

BIOBANK_CONSENT = FileType(
    "fi_bb_consent", "biopankki_suostumukset", "Finnish biobanks: consents", "none",
    (
        C("HETU", "hetu", 11, required=True),
        C("BIOPANKKI", "code", 8, required=True),
        C("SUOSTUMUS", "code", 12, required=True, values=("VOIMASSA", "PERUUTETTU")),  # in force / withdrawn
        C("SUOSTUMUSPV", "fi_date", required=True),  # consent date
        C("PERUUTUSPV", "fi_date"),  # withdrawal date
    ),
    "Biobank consents (broad consent under the Biobank Act) and withdrawals.",
)

FINNGEN_SOURCES = ("INPAT", "OUTPAT", "OPER_IN", "OPER_OUT", "PRIM_OUT", "PURCH", "REIMB", "CANC", "DEATH")
FINNGEN = FileType(
    "finngen", "finngen_longitudinal", "FinnGen: longitudinal detailed endpoint file", "none",
    (
        C("FINNGENID", "study_id", 12, required=True),
        C("SOURCE", "code", 10, required=True, values=FINNGEN_SOURCES),
        C("EVENT_AGE", "decimal", required=True),  # age in years at the event
        C("APPROX_EVENT_DAY", "iso_date", required=True),
        C("CODE1", "code", CODE),
        C("CODE2", "code", CODE),
        C("CODE3", "code", CODE),
        C("CODE4", "code", CODE),
        C("ICDVER", "code", 3, values=("8", "9", "10", "O3", "ATC")),  # 8, 9, 10, O3 (cancer), ATC (purchases)
        C("CATEGORY", "code", 6),  # e.g. 0 = main diagnosis, 1.. secondary; DEATH: U, I, c1..c4
        C("INDEX", "code", 24, required=True),  # the source record the event came from
    ),
    "FinnGen longitudinal file (second accepted layout).",
    delimiter="\t",
    encoding="utf-8",
    null_tokens=("NA",),
    extension="tsv",
)

FILE_TYPES: tuple[FileType, ...] = (
    POPULATION, HILMO, HILMO_DIAG, HILMO_PROC, AVOHILMO, AVOHILMO_ICD10, AVOHILMO_ICPC2, AVOHILMO_PROC,
    KELA_PURCHASE, KELA_REIMB, CANCER, DEATH, BIOBANK_SAMPLE, BIOBANK_CONSENT, FINNGEN,
)
BY_KEY = {ft.key: ft for ft in FILE_TYPES}


def identify(file_name: str) -> FileType | None:
    """The file type a landing-zone file name belongs to, or None."""
    return identify_file(FILE_TYPES, file_name)


# Quarantine reason codes: the connector writes these, the generator's ground
# truth names them, the run summary counts by them.
QUARANTINE_REASONS = {
    **COMMON_QUARANTINE_REASONS,
    "temporary_id": "a temporary henkilötunnus (individual number 900-999): not a stable person identity",
    "orphan_diagnosis": "a diagnosis or procedure row whose episode id matches no staged episode",
    "orphan_visit_code": "an Avohilmo code row whose visit id matches no staged visit",
    "duplicate_key": "a second row with the key of an earlier row (episode id, visit id, sample id) but other values",
}
