"""Clinical catalogue of the synthetic Taiwan site: which codes the generator may emit.

Codes are written as they appear in the raw files: without dots, upper case.
The demo vocabulary (terminology/demo_vocabulary) must map every code here to a
standard concept; a test checks that.  Prevalences are rough adult figures used
only to make studies give plausible numbers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Condition:
    key: str
    name: str
    icd9: str  # ICD-9-CM, no dot (used for events before 2016)
    icd10: str  # ICD-10-CM, no dot (2016 on)
    chronic: bool
    prevalence_60: float  # share of persons aged ~60 who have it (chronic) / yearly visits per person (acute)
    age_slope: float  # multiplicative change per 10 years of age
    inpatient: bool = False  # mainly seen in admissions


CONDITIONS: tuple[Condition, ...] = (
    Condition("t2dm", "Type 2 diabetes mellitus", "25000", "E119", True, 0.16, 1.5),
    Condition("htn", "Essential hypertension", "4019", "I10", True, 0.30, 1.5),
    Condition("hld", "Hyperlipidaemia", "2724", "E785", True, 0.20, 1.3),
    Condition("ckd", "Chronic kidney disease", "5859", "N189", True, 0.05, 1.7),
    Condition("cad", "Coronary atherosclerosis", "41400", "I2510", True, 0.06, 1.7),
    Condition("copd", "Chronic obstructive pulmonary disease", "496", "J449", True, 0.04, 1.8),
    Condition("asthma", "Asthma", "49390", "J45909", True, 0.04, 1.0),
    Condition("hbv", "Chronic viral hepatitis B", "07032", "B181", True, 0.10, 1.0),
    Condition("oa", "Osteoarthritis", "71590", "M1990", True, 0.12, 1.6),
    Condition("depr", "Depressive disorder", "311", "F329", True, 0.04, 1.0),
    Condition("gout", "Gout", "2749", "M109", True, 0.04, 1.3),
    Condition("uri", "Acute upper respiratory infection", "4659", "J069", False, 2.0, 0.8),
    Condition("bronch", "Acute bronchitis", "4660", "J209", False, 0.5, 1.0),
    Condition("phar", "Acute pharyngitis", "462", "J029", False, 0.6, 0.8),
    Condition("ge", "Gastroenteritis", "5589", "K529", False, 0.3, 0.9),
    Condition("lbp", "Low back pain", "7242", "M549", False, 0.5, 1.2),
    Condition("uti", "Urinary tract infection", "5990", "N390", False, 0.2, 1.2),
    Condition("pneu", "Pneumonia", "486", "J189", False, 0.03, 1.8, inpatient=True),
    Condition("ami", "Acute myocardial infarction", "41090", "I219", False, 0.004, 1.8, inpatient=True),
    Condition("stroke", "Cerebral infarction", "43491", "I639", False, 0.005, 1.9, inpatient=True),
    Condition("hf", "Heart failure", "4280", "I509", False, 0.01, 1.9, inpatient=True),
)


@dataclass(frozen=True)
class Drug:
    nhi_code: str  # 10 characters
    name_e: str
    name_c: str
    atc: str
    treats: str  # Condition.key
    unit: str = "TAB"


DRUGS: tuple[Drug, ...] = (
    Drug("AC46525100", "METFORMIN 500MG", "二甲雙胍", "A10BA02", "t2dm"),
    Drug("AC43291100", "GLIMEPIRIDE 2MG", "瑪爾胰", "A10BB12", "t2dm"),
    Drug("BC24977100", "SITAGLIPTIN 100MG", "西格列汀", "A10BH01", "t2dm"),
    Drug("KC00822209", "INSULIN GLARGINE 100U/ML", "甘精胰島素", "A10AE04", "t2dm", "VIAL"),
    Drug("AC41563100", "AMLODIPINE 5MG", "氨氯地平", "C08CA01", "htn"),
    Drug("BC22451100", "LOSARTAN 50MG", "洛沙坦", "C09CA01", "htn"),
    Drug("AC45856100", "FUROSEMIDE 40MG", "福魯塞米", "C03CA01", "hf"),
    Drug("BC23798100", "ATORVASTATIN 20MG", "阿托伐他汀", "C10AA05", "hld"),
    Drug("BC24533100", "ROSUVASTATIN 10MG", "瑞舒伐他汀", "C10AA07", "hld"),
    Drug("AC35710100", "ASPIRIN 100MG", "阿斯匹靈", "B01AC06", "cad"),
    Drug("BC23345100", "CLOPIDOGREL 75MG", "保栓通", "B01AC04", "cad"),
    Drug("AC44563100", "ACETAMINOPHEN 500MG", "乙醯胺酚", "N02BE01", "uri"),
    Drug("AC38120100", "DEXTROMETHORPHAN 15MG", "右美沙芬", "R05DA09", "bronch"),
    Drug("AC27531100", "AMOXICILLIN 500MG", "安莫西林", "J01CA04", "phar", "CAP"),
    Drug("AC32011100", "CEPHALEXIN 500MG", "頭孢力新", "J01DB01", "uti", "CAP"),
    Drug("AC47029100", "OMEPRAZOLE 20MG", "奧美拉唑", "A02BC01", "ge", "CAP"),
    Drug("BC20688100", "SALBUTAMOL INHALER", "沙丁胺醇", "R03AC02", "asthma", "INH"),
    Drug("BC24316100", "TIOTROPIUM 18MCG", "適喘樂", "R03BB04", "copd", "INH"),
    Drug("BC24211100", "ENTECAVIR 0.5MG", "恩替卡韋", "J05AF10", "hbv"),
    Drug("AC39951100", "ALLOPURINOL 100MG", "別嘌醇", "M04AA01", "gout"),
    Drug("BC22987100", "SERTRALINE 50MG", "舍曲林", "N06AB06", "depr"),
    Drug("AC36112100", "DICLOFENAC 25MG", "雙氯芬酸", "M01AB05", "oa"),
)


@dataclass(frozen=True)
class Service:
    """A treatment / diagnostic order (ORDER_TYPE 2) or special material (ORDER_TYPE 3)."""

    code: str  # NHI fee code, 6 characters
    name: str
    order_type: str  # "2" treatment or test, "3" special material
    for_condition: str | None  # Condition.key it is typically ordered for, None = any visit


SERVICES: tuple[Service, ...] = (
    Service("09005C", "Blood glucose", "2", "t2dm"),
    Service("09006C", "Haemoglobin A1c", "2", "t2dm"),
    Service("09001C", "Total cholesterol", "2", "hld"),
    Service("09015C", "Creatinine", "2", "ckd"),
    Service("08011C", "Complete blood count", "2", None),
    Service("18001C", "Electrocardiogram", "2", "cad"),
    Service("32001C", "Chest X-ray", "2", "pneu"),
    Service("58001C", "Haemodialysis", "2", "ckd"),
    Service("FBN0201A", "Coronary drug-eluting stent", "3", "ami"),
)


@dataclass(frozen=True)
class SurgicalProcedure:
    """Procedures in ICD_OP_CODEn: ICD-9-CM volume 3 before 2016, ICD-10-PCS from 2016."""

    name: str
    icd9: str
    icd10pcs: str
    for_condition: str


PROCEDURES: tuple[SurgicalProcedure, ...] = (
    SurgicalProcedure("Haemodialysis", "3995", "5A1D70Z", "ckd"),
    SurgicalProcedure("Coronary stent insertion", "3606", "027034Z", "ami"),
    SurgicalProcedure("Total knee replacement", "8154", "0SRD0JZ", "oa"),
    SurgicalProcedure("Laparoscopic appendectomy", "4701", "0DTJ4ZZ", "ge"),
)


@dataclass(frozen=True)
class Cancer:
    key: str
    name: str
    casite: str  # ICD-O-3 topography, no dot
    histbeh: str  # morphology + behaviour
    icd9: str  # ICD-9-CM used in claims before 2016
    icd10: str  # ICD-10-CM used in claims from 2016
    incidence_60: float  # yearly incidence per person at ~60


CANCERS: tuple[Cancer, ...] = (
    Cancer("lung", "Lung adenocarcinoma", "C349", "81403", "1629", "C3490", 0.0008),
    Cancer("breast", "Breast carcinoma (ductal)", "C509", "85003", "1749", "C50919", 0.0008),
    Cancer("colon", "Colon adenocarcinoma", "C189", "81403", "1539", "C189", 0.0006),
    Cancer("liver", "Hepatocellular carcinoma", "C220", "81703", "1550", "C220", 0.0006),
    Cancer("prostate", "Prostate adenocarcinoma", "C619", "81403", "185", "C61", 0.0005),
)

# Underlying causes of death: ICD-9 (death certificates 1981-2007, 3-4 digits)
# and ICD-10 (2008 on, WHO ICD-10 without dot).
DEATH_CAUSES: tuple[tuple[str, str, str], ...] = (
    # (name, icd9, icd10)
    ("Acute myocardial infarction", "410", "I219"),
    ("Malignant neoplasm of bronchus or lung", "162", "C349"),
    ("Malignant neoplasm of liver", "155", "C220"),
    ("Pneumonia", "486", "J189"),
    ("Cerebral infarction", "434", "I639"),
    ("Type 2 diabetes mellitus", "250", "E119"),
    ("Heart failure", "428", "I509"),
    ("Chronic obstructive pulmonary disease", "496", "J449"),
)

SPECIMEN_TYPES: tuple[str, ...] = ("BLOOD", "SERUM", "PLASMA", "DNA", "TISSUE", "URINE", "SALIVA")

# Facility names deliberately include characters whose CP950 second byte is
# 0x5C '\\' (許 功 蓋) or 0x7C '|' (育), which break naive byte-level parsing.
TRICKY_CHARACTERS = ("許", "功", "蓋", "育")
