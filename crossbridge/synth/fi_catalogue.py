"""Clinical catalogue of the synthetic Finnish site: which codes the generator may emit.

Codes are written as the Finnish registers write them (no dots, upper case).
The demo vocabulary (terminology/demo_vocabulary) must give every code here a
source concept, and map it to the standard concept of the same condition /
ingredient / procedure as the Taiwan catalogue (crossbridge/synth/catalogue.py),
so cross-border studies compare like with like; a test checks that.

Condition keys are shared with the Taiwan catalogue.  ICD-9 (Finnish) and
ICD-8 codes are plausible renderings (4 digits + letter / 5 digits) used for
the older eras; VNR numbers are synthetic stand-ins (real ones are Kela's).
Prevalences are taken from the Taiwan catalogue (rough adult figures).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FiCondition:
    key: str  # as in crossbridge.synth.catalogue.CONDITIONS
    icd10: str  # Finnish ICD-10 without dot (1996 on)
    icd9: str  # Finnish ICD-9, 4 digits + check letter (1987-1995)
    icd8: str  # ICD-8, 5 digits (before 1987)
    icpc2: str  # ICPC-2 (Avohilmo, 2011 on)
    reimb: str | None = None  # Kela special reimbursement right (SK1) granted for it, if any


FI_CONDITIONS: tuple[FiCondition, ...] = (
    FiCondition("t2dm", "E119", "2500B", "25000", "T90", "103"),
    FiCondition("htn", "I10", "4019X", "40199", "K86", "205"),
    FiCondition("hld", "E785", "2722A", "27200", "T93", "211"),
    FiCondition("ckd", "N189", "5859X", "58299", "U99"),
    FiCondition("cad", "I251", "4140X", "41299", "K76", "206"),
    FiCondition("copd", "J449", "4960X", "49199", "R95", "203"),
    FiCondition("asthma", "J459", "4939X", "49399", "R96", "203"),
    FiCondition("hbv", "B181", "0703A", "07099", "D72"),
    FiCondition("oa", "M199", "7159X", "71399", "L91"),
    FiCondition("depr", "F329", "2961B", "29699", "P76"),
    FiCondition("gout", "M109", "2749X", "27499", "T92"),
    FiCondition("uri", "J069", "4659X", "46599", "R74"),
    FiCondition("bronch", "J209", "4660A", "46600", "R78"),
    FiCondition("phar", "J029", "4629X", "46299", "R76"),
    FiCondition("ge", "K529", "5589X", "00999", "D73"),
    FiCondition("lbp", "M545", "7242A", "72899", "L03"),
    FiCondition("uti", "N390", "5990A", "59999", "U71"),
    FiCondition("pneu", "J189", "4869X", "48699", "R81"),
    FiCondition("ami", "I219", "4109X", "41099", "K75"),
    FiCondition("stroke", "I639", "4349X", "43399", "K90"),
    FiCondition("hf", "I509", "4280A", "42799", "K77", "201"),
)

# Combination codes (Finnish ICD-10): the generator writes some complications
# and injuries this way.  (key, code as written, parts as (part, role)) where
# role is 'cause' (+, dagger), 'symptom' (*, asterisk), 'external' (&) or 'atc' (#).
COMBINATIONS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("dm_retinopathy", "E113+H360", (("E113", "cause"), ("H360", "symptom"))),
    ("dm_nephropathy", "E112+N083", (("E112", "cause"), ("N083", "symptom"))),
    ("tb_meningitis", "A170+G01", (("A170", "cause"), ("G01", "symptom"))),
    ("hip_fracture_fall", "S7200&W19", (("S7200", "main"), ("W19", "external"))),
    ("drug_rash_amoxicillin", "L270#J01CA04", (("L270", "main"), ("J01CA04", "atc"))),
)

# ICPC-2 process codes (start with '-'): no diagnosis, the kind of contact work.
ICPC2_PROCESS: tuple[tuple[str, str], ...] = (
    ("-30", "Medical examination/health evaluation - complete"),
    ("-31", "Medical examination/health evaluation - partial"),
    ("-50", "Medication - prescription/request/renewal/injection"),
    ("-45", "Observation/health education/advice/diet"),
)


@dataclass(frozen=True)
class FiDrug:
    atc: str
    vnr: tuple[str, ...]  # package numbers (6 digits, leading zeros kept)
    name: str
    treats: str  # FiCondition.key
    package_price_eur: float
    package_days: int  # days one package lasts at the usual dose


FI_DRUGS: tuple[FiDrug, ...] = (
    FiDrug("A10BA02", ("012345", "012346"), "Metformin 500 mg 100 tabl", "t2dm", 8.90, 50),
    FiDrug("A10BH01", ("081234",), "Sitagliptin 100 mg 98 tabl", "t2dm", 98.50, 98),
    FiDrug("A10AE04", ("003471",), "Insulin glargine 100 U/ml 5x3 ml", "t2dm", 72.30, 60),
    FiDrug("C08CA01", ("045678", "045679"), "Amlodipine 5 mg 100 tabl", "htn", 6.40, 100),
    FiDrug("C09CA01", ("004312",), "Losartan 50 mg 98 tabl", "htn", 9.80, 98),
    FiDrug("C03CA01", ("056781",), "Furosemide 40 mg 100 tabl", "hf", 7.10, 100),
    FiDrug("C10AA05", ("000524", "000525"), "Atorvastatin 20 mg 98 tabl", "hld", 7.60, 98),
    FiDrug("C10AA07", ("114523",), "Rosuvastatin 10 mg 98 tabl", "hld", 8.20, 98),
    FiDrug("B01AC06", ("066112",), "Acetylsalicylic acid 100 mg 100 tabl", "cad", 4.20, 100),
    FiDrug("B01AC04", ("079011",), "Clopidogrel 75 mg 98 tabl", "cad", 12.40, 98),
    FiDrug("N02BE01", ("008834",), "Paracetamol 500 mg 30 tabl", "uri", 3.50, 10),
    FiDrug("J01CA04", ("001187",), "Amoxicillin 500 mg 30 caps", "phar", 9.10, 10),
    FiDrug("J01DB01", ("011893",), "Cefalexin 500 mg 20 tabl", "uti", 11.30, 7),
    FiDrug("A02BC01", ("090241",), "Omeprazole 20 mg 100 caps", "ge", 12.00, 100),
    FiDrug("R03AC02", ("047712",), "Salbutamol 0.1 mg/dose inhaler", "asthma", 10.90, 60),
    FiDrug("R03BB04", ("082290",), "Tiotropium 18 mcg 30 caps", "copd", 41.20, 30),
    FiDrug("M04AA01", ("033381",), "Allopurinol 100 mg 100 tabl", "gout", 5.90, 100),
    FiDrug("N06AB06", ("021450",), "Sertraline 50 mg 98 tabl", "depr", 10.70, 98),
    FiDrug("M01AB05", ("007765",), "Diclofenac 50 mg 30 tabl", "oa", 6.30, 30),
)


@dataclass(frozen=True)
class FiProcedure:
    ncsp: str  # NCSP-F code
    name: str
    for_condition: str  # FiCondition.key it is done for
    inpatient: bool


FI_PROCEDURES: tuple[FiProcedure, ...] = (
    FiProcedure("JEA00", "Appendicectomy", "ge", True),
    FiProcedure("FNG05", "Percutaneous coronary angioplasty with drug-eluting stent", "cad", True),
    FiProcedure("NGB20", "Primary total knee prosthesis", "oa", True),
    FiProcedure("KAS10", "Haemodialysis", "ckd", False),
    FiProcedure("SB211", "Electrocardiography (ECG)", "cad", False),
    FiProcedure("GD1AA", "Chest X-ray", "pneu", False),
)

# Kela special reimbursement rights (SK1) the generator grants, with the
# diagnosis written in DIAG.  Codes as used here; Kela's list is authoritative.
FI_REIMB: dict[str, tuple[str, str]] = {
    "103": ("Diabetes", "E119"),
    "201": ("Chronic heart failure", "I509"),
    "203": ("Chronic asthma and similar chronic obstructive pulmonary diseases", "J459"),
    "205": ("Chronic hypertension", "I10"),
    "206": ("Chronic coronary heart disease", "I251"),
    "211": ("Hereditary hyperlipidaemia", "E785"),
}

# Finnish Cancer Registry tumours (ICD-O-3): (topography, morphology, behaviour, ICD-10, key)
FI_CANCERS: tuple[tuple[str, str, str, str, str], ...] = (
    ("C349", "8140", "3", "C349", "lung"),
    ("C509", "8500", "3", "C509", "breast"),
    ("C189", "8140", "3", "C189", "colon"),
    ("C220", "8170", "3", "C220", "liver"),
    ("C619", "8140", "3", "C61", "prostate"),
)

# Hilmo service types (PALA) and Avohilmo contact types (KAYNTI_YHTEYSTAPA) the generator writes.
HILMO_SERVICE_TYPES = {"1": "ward (inpatient)", "5": "day surgery", "91": "specialist outpatient visit", "93": "emergency visit"}
AVOHILMO_CONTACT_TYPES = {
    "R10": "visit at the practice", "R20": "home visit", "R51": "telephone contact", "R52": "video contact",
}
SPECIALTIES = {"10": "internal medicine", "20": "surgery", "30": "obstetrics and gynaecology",
               "40": "paediatrics", "50": "ophthalmology", "70": "psychiatry", "98": "general practice"}

# Finnish biobanks and sample types (local vocabulary 'FI Biobank Specimen').
BIOBANKS = ("HELB", "AURIA", "THLB", "BBOULU", "TAYS")
SAMPLE_TYPES = {"KOKOVERI": "whole blood", "SEERUMI": "serum", "PLASMA": "plasma", "DNA": "DNA",
                "KUDOS": "tissue", "VIRTSA": "urine"}
CONSENT_IN_FORCE = "VOIMASSA"
CONSENT_WITHDRAWN = "PERUUTETTU"

# Municipalities (number, name in Latin-1-representable Finnish).
MUNICIPALITIES = (
    ("091", "Helsinki"), ("049", "Espoo"), ("837", "Tampere"), ("092", "Vantaa"), ("564", "Oulu"),
    ("853", "Turku"), ("179", "Jyväskylä"), ("398", "Lahti"), ("297", "Kuopio"), ("109", "Hämeenlinna"),
    ("905", "Vaasa"), ("698", "Rovaniemi"),
)
