"""Compact, reviewable source of the project's demo vocabulary.

``build.py`` turns these tables into Athena-format files in two folders:

* ``athena/``   stands in for a site's licensed Athena download: the public
  vocabularies (SNOMED, RxNorm, LOINC, ICD9CM, ICD10CM, ICD10, ICD9Proc,
  ICD10PCS, ATC, ICDO3, Gender, Visit, Type Concept, Condition Status);
* ``nhi_local/`` holds the project-local vocabularies (NHI Drug, NHI Fee,
  NBCT Specimen, Crossbridge) that are loaded on top of any Athena download;
* ``finomop/`` holds the Finnish source vocabularies (ICD10fi, ICD9fi, ICD8fi,
  ICPC, NCSPfi, VNRfi, REIMB at FinOMOP's offsets; FI Biobank Specimen in a
  project block) as FinOMOP-style usagi-extended CSV files plus a
  ``vocabularies.csv`` index; they are loaded as Usagi overlays.

Standard concept ids are the real public OMOP ids; each row names how it was
verified (see README.md).  Source concepts of public vocabularies get
project-local stand-in ids (block per vocabulary, ``VOCABULARY_BLOCKS``) because
their real ids could not be confirmed offline; a real Athena download brings
the real ones.  Source codes are written as Athena writes them (dots for ICD).
"""

from __future__ import annotations

# --------------------------------------------------------------------------
# Vocabularies: id -> (name, reference, version, vocabulary_concept_id, local?)
# vocabulary_concept_id: the public id where confirmed (Eunomia VOCABULARY
# table), 0 otherwise.
# --------------------------------------------------------------------------
DEMO_VERSION = "XB demo 2026-11"  # <= 20 characters: cdm_source.vocabulary_version is VARCHAR(20)
PUBLIC_SUBSET = "Crossbridge demo subset 2026-11; standard ids as in Athena, source ids stand-ins"

VOCABULARIES: dict[str, tuple[str, str, str, int, bool]] = {
    # the release record: cdm_source.vocabulary_version is read from this row
    "None": ("OMOP Standardized Vocabularies", "terminology/demo_vocabulary/README.md", DEMO_VERSION, 44819096, False),
    "SNOMED": ("Systematic Nomenclature of Medicine - Clinical Terms (IHTSDO)", "https://www.snomed.org", PUBLIC_SUBSET, 44819097, False),
    "RxNorm": ("RxNorm (NLM)", "https://www.nlm.nih.gov/research/umls/rxnorm", PUBLIC_SUBSET, 44819104, False),
    "LOINC": ("Logical Observation Identifiers Names and Codes (Regenstrief Institute)", "https://loinc.org", PUBLIC_SUBSET, 44819102, False),
    "ICD9CM": ("International Classification of Diseases, Ninth Revision, Clinical Modification, Volume 1 and 2 (NCHS)", "https://www.cdc.gov/nchs/icd/icd9cm.htm", PUBLIC_SUBSET, 5046, False),
    "ICD10CM": ("International Classification of Diseases, Tenth Revision, Clinical Modification (NCHS)", "https://www.cdc.gov/nchs/icd/icd-10-cm", PUBLIC_SUBSET, 44819098, False),
    "ICD10": ("International Classification of Diseases, Tenth Revision (WHO)", "https://icd.who.int/browse10", PUBLIC_SUBSET, 44819124, False),
    "ICD9Proc": ("International Classification of Diseases, Ninth Revision, Clinical Modification, Volume 3 (NCHS)", "https://www.cdc.gov/nchs/icd/icd9cm.htm", PUBLIC_SUBSET, 44819099, False),
    "ICD10PCS": ("ICD-10 Procedure Coding System (CMS)", "https://www.cms.gov/medicare/coding-billing/icd-10-codes", PUBLIC_SUBSET, 44819125, False),
    "ATC": ("WHO Anatomic Therapeutic Chemical Classification", "https://atcddd.fhi.no", PUBLIC_SUBSET, 44819117, False),
    "ICDO3": ("International Classification of Diseases for Oncology, Third Edition (WHO)", "https://seer.cancer.gov/icd-o-3/", PUBLIC_SUBSET, 581426, False),
    "Gender": ("OMOP Gender", "OMOP generated", PUBLIC_SUBSET, 44819108, False),
    "Visit": ("OMOP Visit", "OMOP generated", PUBLIC_SUBSET, 44819119, False),
    "Type Concept": ("OMOP Type Concept", "OMOP generated", PUBLIC_SUBSET, 0, False),
    "Condition Status": ("OMOP Condition Status", "OMOP generated", PUBLIC_SUBSET, 0, False),
    "CMS Place of Service": ("Place of Service Codes for Professional Claims (CMS)", "https://www.cms.gov/medicare/coding-billing/place-of-service-codes", PUBLIC_SUBSET, 44819110, False),
    "CDM": ("OMOP Common DataModel", "https://github.com/OHDSI/CommonDataModel", PUBLIC_SUBSET, 0, False),
    # project-local vocabularies (loaded on top of any Athena download)
    "Crossbridge": ("Crossbridge project concepts", "terminology/demo_vocabulary/README.md", DEMO_VERSION, 0, True),
    "NHI Drug": ("Taiwan National Health Insurance drug codes", "https://www.nhi.gov.tw", DEMO_VERSION, 0, True),
    "NHI Fee": ("Taiwan National Health Insurance medical service fee codes", "https://www.nhi.gov.tw", DEMO_VERSION, 0, True),
    "NBCT Specimen": ("National Biobank Consortium of Taiwan specimen types", "terminology/demo_vocabulary/README.md", DEMO_VERSION, 0, True),
}

# First concept id of each block of 100,000.  'Crossbridge' stays at
# 2,000,000,000 (below FinOMOP's first block, 2,000,100,000); every other
# project block starts at 2,100,000,000 (terminology.concepts.
# PROJECT_CONCEPT_ID_START), clear of FinOMOP's blocks, so a hub can load the
# FinOMOP vocabularies next to these without two concepts sharing one id.
# The local vocabularies match terminology.concepts.LOCAL_VOCABULARY_BLOCKS;
# ICD9CM .. ICDO3 are demo stand-ins for public source concepts.
VOCABULARY_BLOCKS: dict[str, int] = {
    "Crossbridge": 2_000_000_000,
    "NHI Drug": 2_100_000_000,
    "NHI Fee": 2_100_100_000,
    "NBCT Specimen": 2_100_200_000,
    "ICD9CM": 2_100_300_000,
    "ICD10CM": 2_100_400_000,
    "ICD10": 2_100_500_000,
    "ICD9Proc": 2_100_600_000,
    "ICD10PCS": 2_100_700_000,
    "ATC": 2_100_800_000,
    "ICDO3": 2_100_900_000,
    "FI Biobank Specimen": 2_101_000_000,  # usagi file in finomop/
}

# Verification sources (keys used in STANDARD below)
SOURCES = {
    "PL": "OHDSI/PhenotypeLibrary inst/cohorts concept sets (id, name, vocabulary, domain, class, code)",
    "LG": "ohdsi-studies/LegendT2dm and LegendHtnStepCare concept sets",
    "EU": "OHDSI/Eunomia CONCEPT.csv (GiBleed CDM)",
    "OX": "answerdigital/oxford-omop-data-mapper RxNorm/LOINC lookups",
    "FG": "FINNGEN/ETL specification and SQL (condition status, registry type, visits)",
    "LB": "OHDSI/ETL-LambdaBuilder ETL documentation (type concepts)",
    "ES": "OHDSI/ETL-Synthea v5.4 SQL (EHR type concept)",
    "CS": "public OHDSI ETL SQL listing specimen concept ids with names",
    "FI": "FinOMOP ICD10fi.usagi.csv (reference/finomop)",
    "GH": "two independent public code files naming the id",
    "CD": "OHDSI/CommonDataModel v5.4 conventions (cdm_version_concept_id, discharged_to_concept_id examples)",
}

# --------------------------------------------------------------------------
# Standard concepts: (id, name, domain, vocabulary, class, code, verified_by)
# --------------------------------------------------------------------------
STANDARD: tuple[tuple[int, str, str, str, str, str, str], ...] = (
    # Gender, visits, type concepts, condition status (terminology/concepts.py)
    (8507, "MALE", "Gender", "Gender", "Gender", "M", "PL EU"),
    (8532, "FEMALE", "Gender", "Gender", "Gender", "F", "PL EU"),
    (9201, "Inpatient Visit", "Visit", "Visit", "Visit", "IP", "PL EU FG"),
    # discharged_to (visit_occurrence.DISCHARGE_CONCEPTS) and cdm_source.cdm_version_concept_id:
    # found missing by the DQD isForeignKey check of the quality gate
    (8536, "Home", "Visit", "CMS Place of Service", "Visit", "12", "CD GH"),
    (8717, "Inpatient Hospital", "Visit", "CMS Place of Service", "Visit", "21", "CD GH"),
    (4216643, "Patient died", "Observation", "SNOMED", "Clinical Finding", "419099009", "CD GH"),
    (756265, "OMOP CDM Version 5.4.0", "Metadata", "CDM", "CDM", "CDM v5.4.0", "CD"),
    (9202, "Outpatient Visit", "Visit", "Visit", "Visit", "OP", "PL EU FG"),
    (9203, "Emergency Room Visit", "Visit", "Visit", "Visit", "ER", "PL EU"),
    (262, "Emergency Room and Inpatient Visit", "Visit", "Visit", "Visit", "ERIP", "PL"),
    (581458, "Pharmacy visit", "Visit", "Visit", "Visit", "PHARMACY", "FG"),
    (32810, "Claim", "Type Concept", "Type Concept", "Type Concept", "CLAIM", "LB"),
    (32869, "Pharmacy claim", "Type Concept", "Type Concept", "Type Concept", "PHARMACY_CLAIM", "LB"),
    (32817, "EHR", "Type Concept", "Type Concept", "Type Concept", "EHR", "ES"),
    (32879, "Registry", "Type Concept", "Type Concept", "Type Concept", "REGISTRY", "FG"),
    (32815, "Death Certificate", "Type Concept", "Type Concept", "Type Concept", "DEATH_CERTIFICATE", "LB"),
    (32902, "Primary diagnosis", "Condition Status", "Condition Status", "Condition Status", "PRIMARY", "FG"),
    (32908, "Secondary diagnosis", "Condition Status", "Condition Status", "Condition Status", "SECONDARY", "FG"),
    (32911, "Underlying cause of death", "Condition Status", "Condition Status", "Condition Status", "UNDERLYING_COD", "FG"),
    (32897, "Immediate cause of death", "Condition Status", "Condition Status", "Condition Status", "IMMEDIATE_COD", "FG"),
    (32894, "Contributory cause of death", "Condition Status", "Condition Status", "Condition Status", "CONTRIBUTORY_COD", "FG"),
    # Conditions (SNOMED)
    (201826, "Type 2 diabetes mellitus", "Condition", "SNOMED", "Clinical Finding", "44054006", "PL"),
    (201820, "Diabetes mellitus", "Condition", "SNOMED", "Clinical Finding", "73211009", "PL"),
    (320128, "Essential hypertension", "Condition", "SNOMED", "Clinical Finding", "59621000", "PL"),
    (316866, "Hypertensive disorder", "Condition", "SNOMED", "Clinical Finding", "38341003", "PL"),
    (432867, "Hyperlipidemia", "Condition", "SNOMED", "Clinical Finding", "55822004", "PL FI"),
    (46271022, "Chronic kidney disease", "Condition", "SNOMED", "Clinical Finding", "709044004", "PL"),
    (317576, "Coronary arteriosclerosis", "Condition", "SNOMED", "Clinical Finding", "53741008", "PL"),
    (255573, "Chronic obstructive lung disease", "Condition", "SNOMED", "Clinical Finding", "13645005", "PL"),
    (317009, "Asthma", "Condition", "SNOMED", "Clinical Finding", "195967001", "PL"),
    (4281232, "Type B viral hepatitis", "Condition", "SNOMED", "Disorder", "66071002", "PL"),
    (80180, "Osteoarthritis", "Condition", "SNOMED", "Clinical Finding", "396275006", "PL"),
    (440383, "Depressive disorder", "Condition", "SNOMED", "Clinical Finding", "35489007", "PL FI"),
    (440674, "Gout", "Condition", "SNOMED", "Clinical Finding", "90560007", "PL"),
    (257011, "Acute upper respiratory infection", "Condition", "SNOMED", "Clinical Finding", "54398005", "PL FI"),
    (260139, "Acute bronchitis", "Condition", "SNOMED", "Clinical Finding", "10509002", "PL"),
    (4226263, "Pharyngitis", "Condition", "SNOMED", "Clinical Finding", "405737000", "PL"),
    (4101468, "Gastroenteritis", "Condition", "SNOMED", "Clinical Finding", "25374005", "PL"),
    (194133, "Low back pain", "Condition", "SNOMED", "Clinical Finding", "279039007", "PL"),
    (134736, "Backache", "Condition", "SNOMED", "Clinical Finding", "161891005", "PL"),
    (81902, "Urinary tract infectious disease", "Condition", "SNOMED", "Clinical Finding", "68566005", "PL"),
    (255848, "Pneumonia", "Condition", "SNOMED", "Clinical Finding", "233604007", "PL FI"),
    (312327, "Acute myocardial infarction", "Condition", "SNOMED", "Clinical Finding", "57054005", "PL FI"),
    (443454, "Cerebral infarction", "Condition", "SNOMED", "Clinical Finding", "432504007", "PL"),
    (316139, "Heart failure", "Condition", "SNOMED", "Clinical Finding", "84114007", "PL"),
    # Finnish combination codes (ICD10fi dagger/asterisk and external-cause codes)
    (4174977, "Retinopathy due to diabetes mellitus", "Condition", "SNOMED", "Clinical Finding", "4855003", "PL"),
    (192279, "Disorder of kidney due to diabetes mellitus", "Condition", "SNOMED", "Clinical Finding", "127013003", "PL"),
    # FI: id and name as FinOMOP maps E11.3+H36.09 / E11.2+N08.39 / A17.0+G01;
    # SNOMED codes from public code naming them (422034002, 420279001, 58437007)
    (4226121, "Retinopathy due to type 2 diabetes mellitus", "Condition", "SNOMED", "Clinical Finding", "422034002", "FI"),
    (443731, "Renal disorder due to type 2 diabetes mellitus", "Condition", "SNOMED", "Clinical Finding", "420279001", "FI"),
    (441775, "Tuberculosis of meninges", "Condition", "SNOMED", "Clinical Finding", "58437007", "FI"),
    (436091, "Bacterial meningitis", "Condition", "SNOMED", "Clinical Finding", "95883001", "PL"),
    (436583, "Fall", "Observation", "SNOMED", "Clinical Finding", "1912002", "PL"),
    # Cancers (SNOMED)
    (45768916, "Primary adenocarcinoma of lung", "Condition", "SNOMED", "Clinical Finding", "707451005", "PL"),
    (258369, "Primary malignant neoplasm of lung", "Condition", "SNOMED", "Clinical Finding", "93880001", "PL"),
    (443388, "Malignant tumor of lung", "Condition", "SNOMED", "Clinical Finding", "363358000", "PL"),
    (4112853, "Malignant tumor of breast", "Condition", "SNOMED", "Clinical Finding", "254837009", "PL"),
    (42872396, "Primary adenocarcinoma of colon", "Condition", "SNOMED", "Clinical Finding", "1701000119104", "PL"),
    (197500, "Primary malignant neoplasm of colon", "Condition", "SNOMED", "Clinical Finding", "93761005", "PL FI"),
    (4180790, "Malignant tumor of colon", "Condition", "SNOMED", "Clinical Finding", "363406005", "PL"),
    (201519, "Primary malignant neoplasm of liver", "Condition", "SNOMED", "Clinical Finding", "95214007", "PL"),
    (4246127, "Malignant neoplasm of liver", "Condition", "SNOMED", "Clinical Finding", "93870000", "PL"),
    (200962, "Primary malignant neoplasm of prostate", "Condition", "SNOMED", "Clinical Finding", "93974005", "PL"),
    (4163261, "Malignant tumor of prostate", "Condition", "SNOMED", "Clinical Finding", "399068003", "PL"),
    # Procedures (SNOMED)
    (4120120, "Hemodialysis", "Procedure", "SNOMED", "Procedure", "302497006", "PL"),
    (4283892, "Placement of stent in coronary artery", "Procedure", "SNOMED", "Procedure", "36969009", "PL"),
    (43531439, "Percutaneous insertion of drug eluting stent into coronary artery using fluoroscopic guidance", "Procedure", "SNOMED", "Procedure", "609153008", "PL"),
    (43531648, "Total knee replacement", "Procedure", "SNOMED", "Procedure", "609588000", "PL"),
    (4078547, "Arthroplasty of knee", "Procedure", "SNOMED", "Procedure", "19063003", "PL"),
    (4198190, "Appendectomy", "Procedure", "SNOMED", "Procedure", "80146002", "PL EU"),
    (4163951, "Electrocardiographic procedure", "Procedure", "SNOMED", "Procedure", "29303009", "EU"),
    (4163872, "Plain chest X-ray", "Procedure", "SNOMED", "Procedure", "399208008", "EU"),
    # Measurements (LOINC)
    (3004501, "Glucose [Mass/volume] in Serum or Plasma", "Measurement", "LOINC", "Lab Test", "2345-7", "EU"),
    (3004410, "Hemoglobin A1c/Hemoglobin.total in Blood", "Measurement", "LOINC", "Lab Test", "4548-4", "PL OX"),
    (3027114, "Cholesterol [Mass/volume] in Serum or Plasma", "Measurement", "LOINC", "Lab Test", "2093-3", "GH"),
    (3016723, "Creatinine [Mass/volume] in Serum or Plasma", "Measurement", "LOINC", "Lab Test", "2160-0", "PL EU"),
    (3001643, "Hemoglobin and Hematocrit panel - Blood", "Measurement", "LOINC", "Lab Test", "24360-0", "PL"),
    # Drug ingredients (RxNorm)
    (1503297, "metformin", "Drug", "RxNorm", "Ingredient", "6809", "LG OX"),
    (1597756, "glimepiride", "Drug", "RxNorm", "Ingredient", "25789", "LG OX"),
    (1580747, "sitagliptin", "Drug", "RxNorm", "Ingredient", "593411", "PL LG OX"),
    (1502905, "insulin glargine", "Drug", "RxNorm", "Ingredient", "274783", "LG OX"),
    (1332418, "amlodipine", "Drug", "RxNorm", "Ingredient", "17767", "PL LG OX"),
    (1367500, "losartan", "Drug", "RxNorm", "Ingredient", "52175", "LG OX"),
    (956874, "furosemide", "Drug", "RxNorm", "Ingredient", "4603", "LG OX"),
    (1545958, "atorvastatin", "Drug", "RxNorm", "Ingredient", "83367", "EU OX"),
    (1510813, "rosuvastatin", "Drug", "RxNorm", "Ingredient", "301542", "OX GH"),
    (1112807, "aspirin", "Drug", "RxNorm", "Ingredient", "1191", "PL LG OX"),
    (1322184, "clopidogrel", "Drug", "RxNorm", "Ingredient", "32968", "EU OX"),
    (1125315, "acetaminophen", "Drug", "RxNorm", "Ingredient", "161", "PL EU OX"),
    (1119510, "dextromethorphan", "Drug", "RxNorm", "Ingredient", "3289", "PL EU"),
    (1713332, "amoxicillin", "Drug", "RxNorm", "Ingredient", "723", "PL OX"),
    (1786621, "cephalexin", "Drug", "RxNorm", "Ingredient", "2231", "PL OX"),
    (923645, "omeprazole", "Drug", "RxNorm", "Ingredient", "7646", "OX"),
    (1154343, "albuterol", "Drug", "RxNorm", "Ingredient", "435", "EU OX"),
    (1106776, "tiotropium", "Drug", "RxNorm", "Ingredient", "69120", "PL OX"),
    (1711246, "entecavir", "Drug", "RxNorm", "Ingredient", "306266", "OX"),
    (1167322, "allopurinol", "Drug", "RxNorm", "Ingredient", "519", "OX"),
    (739138, "sertraline", "Drug", "RxNorm", "Ingredient", "36437", "PL OX"),
    (1124300, "diclofenac", "Drug", "RxNorm", "Ingredient", "3355", "PL EU OX"),
    # Specimens (SNOMED)
    (4001225, "Blood specimen", "Specimen", "SNOMED", "Specimen", "119297000", "CS"),
    (4001181, "Serum specimen", "Specimen", "SNOMED", "Specimen", "119364003", "CS"),
    (4000626, "Plasma specimen", "Specimen", "SNOMED", "Specimen", "119361006", "CS"),
    (4046280, "Urine specimen", "Specimen", "SNOMED", "Specimen", "122575003", "CS"),
)

# Project-local STANDARD concepts (vocabulary 'Crossbridge'): public ids could
# not be confirmed offline, so the project defines its own (see README.md).
# (offset in the Crossbridge block, name, domain, concept class, code)
CROSSBRIDGE: tuple[tuple[int, str, str, str, str], ...] = (
    (1, "Broad consent given for biobank research", "Observation", "Crossbridge Concept", "BIOBANK_BROAD_CONSENT"),
    (2, "Consent for biobank research withdrawn", "Observation", "Crossbridge Concept", "BIOBANK_CONSENT_WITHDRAWN"),
    (11, "Saliva specimen", "Specimen", "Crossbridge Concept", "SALIVA"),
    (12, "Tissue specimen", "Specimen", "Crossbridge Concept", "TISSUE"),
    (13, "DNA specimen", "Specimen", "Crossbridge Concept", "DNA"),
    # Finnish combination-code parts whose public ids could not be confirmed
    # (433856 is a likely candidate for the fracture; confirm in Athena)
    (21, "Fracture of neck of femur", "Condition", "Crossbridge Concept", "FRACTURE_NECK_OF_FEMUR"),
    (22, "Drug eruption", "Condition", "Crossbridge Concept", "DRUG_ERUPTION"),
)

# Obvious 'Is a' links (descendant, ancestor) among the standard concepts;
# build.py adds self rows and the transitive closure.
IS_A: tuple[tuple[int, int], ...] = (
    (201826, 201820),
    (320128, 316866),
    (194133, 134736),
    (45768916, 258369),
    (258369, 443388),
    (42872396, 197500),
    (197500, 4180790),
    (201519, 4246127),
    (200962, 4163261),
    (43531439, 4283892),
    (43531648, 4078547),
    (4226121, 4174977),
    (443731, 192279),
    (441775, 436091),
)

# --------------------------------------------------------------------------
# Source concepts: (vocabulary, code as Athena writes it, name, class, domain,
# target standard id | "crossbridge:<offset>").  Order inside a vocabulary
# fixes the concept id (block start + position + 1): append, never reorder.
# --------------------------------------------------------------------------
SOURCE: tuple[tuple[str, str, str, str, str, int | str], ...] = (
    # ICD-9-CM diagnoses (claims before 2016)
    ("ICD9CM", "250.00", "Diabetes mellitus without mention of complication, type II or unspecified type, not stated as uncontrolled", "5-dig billing code", "Condition", 201826),
    ("ICD9CM", "401.9", "Unspecified essential hypertension", "4-dig billing code", "Condition", 320128),
    ("ICD9CM", "272.4", "Other and unspecified hyperlipidemia", "4-dig billing code", "Condition", 432867),
    ("ICD9CM", "585.9", "Chronic kidney disease, unspecified", "4-dig billing code", "Condition", 46271022),
    ("ICD9CM", "414.00", "Coronary atherosclerosis of unspecified type of vessel, native or graft", "5-dig billing code", "Condition", 317576),
    ("ICD9CM", "496", "Chronic airway obstruction, not elsewhere classified", "3-dig billing code", "Condition", 255573),
    ("ICD9CM", "493.90", "Asthma, unspecified type, unspecified", "5-dig billing code", "Condition", 317009),
    ("ICD9CM", "070.32", "Chronic viral hepatitis B without mention of hepatic coma without mention of hepatitis delta", "5-dig billing code", "Condition", 4281232),
    ("ICD9CM", "715.90", "Osteoarthrosis, unspecified whether generalized or localized, site unspecified", "5-dig billing code", "Condition", 80180),
    ("ICD9CM", "311", "Depressive disorder, not elsewhere classified", "3-dig billing code", "Condition", 440383),
    ("ICD9CM", "274.9", "Gout, unspecified", "4-dig billing code", "Condition", 440674),
    ("ICD9CM", "465.9", "Acute upper respiratory infections of unspecified site", "4-dig billing code", "Condition", 257011),
    ("ICD9CM", "466.0", "Acute bronchitis", "4-dig billing code", "Condition", 260139),
    ("ICD9CM", "462", "Acute pharyngitis", "3-dig billing code", "Condition", 4226263),
    ("ICD9CM", "558.9", "Other and unspecified noninfectious gastroenteritis and colitis", "4-dig billing code", "Condition", 4101468),
    ("ICD9CM", "724.2", "Lumbago", "4-dig billing code", "Condition", 194133),
    ("ICD9CM", "599.0", "Urinary tract infection, site not specified", "4-dig billing code", "Condition", 81902),
    ("ICD9CM", "486", "Pneumonia, organism unspecified", "3-dig billing code", "Condition", 255848),
    ("ICD9CM", "410.90", "Acute myocardial infarction of unspecified site, episode of care unspecified", "5-dig billing code", "Condition", 312327),
    ("ICD9CM", "434.91", "Cerebral artery occlusion, unspecified with cerebral infarction", "5-dig billing code", "Condition", 443454),
    ("ICD9CM", "428.0", "Congestive heart failure, unspecified", "4-dig billing code", "Condition", 316139),
    ("ICD9CM", "162.9", "Malignant neoplasm of bronchus and lung, unspecified", "4-dig billing code", "Condition", 258369),
    ("ICD9CM", "174.9", "Malignant neoplasm of breast (female), unspecified", "4-dig billing code", "Condition", 4112853),
    ("ICD9CM", "153.9", "Malignant neoplasm of colon, unspecified site", "4-dig billing code", "Condition", 197500),
    ("ICD9CM", "155.0", "Malignant neoplasm of liver, primary", "4-dig billing code", "Condition", 201519),
    ("ICD9CM", "185", "Malignant neoplasm of prostate", "3-dig billing code", "Condition", 200962),
    # ICD-9 three-digit causes of death (death certificates 1981-2007)
    ("ICD9CM", "410", "Acute myocardial infarction", "3-dig nonbill code", "Condition", 312327),
    ("ICD9CM", "162", "Malignant neoplasm of trachea, bronchus, and lung", "3-dig nonbill code", "Condition", 443388),
    ("ICD9CM", "155", "Malignant neoplasm of liver and intrahepatic bile ducts", "3-dig nonbill code", "Condition", 4246127),
    ("ICD9CM", "434", "Occlusion of cerebral arteries", "3-dig nonbill code", "Condition", 443454),
    ("ICD9CM", "250", "Diabetes mellitus", "3-dig nonbill code", "Condition", 201820),
    ("ICD9CM", "428", "Heart failure", "3-dig nonbill code", "Condition", 316139),
    # ICD-10-CM diagnoses (claims from 2016)
    ("ICD10CM", "E11.9", "Type 2 diabetes mellitus without complications", "4-char billing code", "Condition", 201826),
    ("ICD10CM", "I10", "Essential (primary) hypertension", "3-char billing code", "Condition", 320128),
    ("ICD10CM", "E78.5", "Hyperlipidemia, unspecified", "4-char billing code", "Condition", 432867),
    ("ICD10CM", "N18.9", "Chronic kidney disease, unspecified", "4-char billing code", "Condition", 46271022),
    ("ICD10CM", "I25.10", "Atherosclerotic heart disease of native coronary artery without angina pectoris", "5-char billing code", "Condition", 317576),
    ("ICD10CM", "J44.9", "Chronic obstructive pulmonary disease, unspecified", "4-char billing code", "Condition", 255573),
    ("ICD10CM", "J45.909", "Unspecified asthma, uncomplicated", "6-char billing code", "Condition", 317009),
    ("ICD10CM", "B18.1", "Chronic viral hepatitis B without delta-agent", "4-char billing code", "Condition", 4281232),
    ("ICD10CM", "M19.90", "Unspecified osteoarthritis, unspecified site", "5-char billing code", "Condition", 80180),
    ("ICD10CM", "F32.9", "Major depressive disorder, single episode, unspecified", "4-char billing code", "Condition", 440383),
    ("ICD10CM", "M10.9", "Gout, unspecified", "4-char billing code", "Condition", 440674),
    ("ICD10CM", "J06.9", "Acute upper respiratory infection, unspecified", "4-char billing code", "Condition", 257011),
    ("ICD10CM", "J20.9", "Acute bronchitis, unspecified", "4-char billing code", "Condition", 260139),
    ("ICD10CM", "J02.9", "Acute pharyngitis, unspecified", "4-char billing code", "Condition", 4226263),
    ("ICD10CM", "K52.9", "Noninfective gastroenteritis and colitis, unspecified", "4-char billing code", "Condition", 4101468),
    ("ICD10CM", "M54.9", "Dorsalgia, unspecified", "4-char billing code", "Condition", 134736),
    ("ICD10CM", "N39.0", "Urinary tract infection, site not specified", "4-char billing code", "Condition", 81902),
    ("ICD10CM", "J18.9", "Pneumonia, unspecified organism", "4-char billing code", "Condition", 255848),
    ("ICD10CM", "I21.9", "Acute myocardial infarction, unspecified", "4-char billing code", "Condition", 312327),
    ("ICD10CM", "I63.9", "Cerebral infarction, unspecified", "4-char billing code", "Condition", 443454),
    ("ICD10CM", "I50.9", "Heart failure, unspecified", "4-char billing code", "Condition", 316139),
    ("ICD10CM", "C34.90", "Malignant neoplasm of unspecified part of unspecified bronchus or lung", "5-char billing code", "Condition", 258369),
    ("ICD10CM", "C50.919", "Malignant neoplasm of unspecified site of unspecified female breast", "6-char billing code", "Condition", 4112853),
    ("ICD10CM", "C18.9", "Malignant neoplasm of colon, unspecified", "4-char billing code", "Condition", 197500),
    ("ICD10CM", "C22.0", "Liver cell carcinoma", "4-char billing code", "Condition", 201519),
    ("ICD10CM", "C61", "Malignant neoplasm of prostate", "3-char billing code", "Condition", 200962),
    # WHO ICD-10 causes of death (2008 on)
    ("ICD10", "I21.9", "Acute myocardial infarction, unspecified", "ICD10 code", "Condition", 312327),
    ("ICD10", "C34.9", "Malignant neoplasm: Bronchus or lung, unspecified", "ICD10 code", "Condition", 258369),
    ("ICD10", "C22.0", "Liver cell carcinoma", "ICD10 code", "Condition", 201519),
    ("ICD10", "J18.9", "Pneumonia, unspecified", "ICD10 code", "Condition", 255848),
    ("ICD10", "I63.9", "Cerebral infarction, unspecified", "ICD10 code", "Condition", 443454),
    ("ICD10", "E11.9", "Non-insulin-dependent diabetes mellitus without complications", "ICD10 code", "Condition", 201826),
    ("ICD10", "I50.9", "Heart failure, unspecified", "ICD10 code", "Condition", 316139),
    ("ICD10", "J44.9", "Chronic obstructive pulmonary disease, unspecified", "ICD10 code", "Condition", 255573),
    # ICD-9-CM volume 3 procedures (before 2016)
    ("ICD9Proc", "39.95", "Hemodialysis", "4-dig billing code", "Procedure", 4120120),
    ("ICD9Proc", "36.06", "Insertion of non-drug-eluting coronary artery stent(s)", "4-dig billing code", "Procedure", 4283892),
    ("ICD9Proc", "81.54", "Total knee replacement", "4-dig billing code", "Procedure", 43531648),
    ("ICD9Proc", "47.01", "Laparoscopic appendectomy", "4-dig billing code", "Procedure", 4198190),
    # ICD-10-PCS procedures (2016 on)
    ("ICD10PCS", "5A1D70Z", "Performance of Urinary Filtration, Intermittent, Less than 6 Hours Per Day", "ICD10PCS", "Procedure", 4120120),
    ("ICD10PCS", "027034Z", "Dilation of Coronary Artery, One Artery with Drug-eluting Intraluminal Device, Percutaneous Approach", "ICD10PCS", "Procedure", 43531439),
    ("ICD10PCS", "0SRD0JZ", "Replacement of Left Knee Joint with Synthetic Substitute, Open Approach", "ICD10PCS", "Procedure", 43531648),
    ("ICD10PCS", "0DTJ4ZZ", "Resection of Appendix, Percutaneous Endoscopic Approach", "ICD10PCS", "Procedure", 4198190),
    # ICD-O-3 histology/topography of the Taiwan Cancer Registry
    ("ICDO3", "8140/3-C34.9", "Adenocarcinoma, NOS, of lung, NOS", "ICDO Condition", "Condition", 45768916),
    ("ICDO3", "8500/3-C50.9", "Infiltrating duct carcinoma, NOS, of breast, NOS", "ICDO Condition", "Condition", 4112853),
    ("ICDO3", "8140/3-C18.9", "Adenocarcinoma, NOS, of colon, NOS", "ICDO Condition", "Condition", 42872396),
    ("ICDO3", "8170/3-C22.0", "Hepatocellular carcinoma, NOS, of liver", "ICDO Condition", "Condition", 201519),
    ("ICDO3", "8140/3-C61.9", "Adenocarcinoma, NOS, of prostate gland", "ICDO Condition", "Condition", 200962),
    # ATC (drug master ATC_CODE)
    ("ATC", "A10BA02", "metformin", "ATC 5th", "Drug", 1503297),
    ("ATC", "A10BB12", "glimepiride", "ATC 5th", "Drug", 1597756),
    ("ATC", "A10BH01", "sitagliptin", "ATC 5th", "Drug", 1580747),
    ("ATC", "A10AE04", "insulin glargine", "ATC 5th", "Drug", 1502905),
    ("ATC", "C08CA01", "amlodipine", "ATC 5th", "Drug", 1332418),
    ("ATC", "C09CA01", "losartan", "ATC 5th", "Drug", 1367500),
    ("ATC", "C03CA01", "furosemide", "ATC 5th", "Drug", 956874),
    ("ATC", "C10AA05", "atorvastatin", "ATC 5th", "Drug", 1545958),
    ("ATC", "C10AA07", "rosuvastatin", "ATC 5th", "Drug", 1510813),
    ("ATC", "B01AC06", "acetylsalicylic acid", "ATC 5th", "Drug", 1112807),
    ("ATC", "B01AC04", "clopidogrel", "ATC 5th", "Drug", 1322184),
    ("ATC", "N02BE01", "paracetamol", "ATC 5th", "Drug", 1125315),
    ("ATC", "R05DA09", "dextromethorphan", "ATC 5th", "Drug", 1119510),
    ("ATC", "J01CA04", "amoxicillin", "ATC 5th", "Drug", 1713332),
    ("ATC", "J01DB01", "cefalexin", "ATC 5th", "Drug", 1786621),
    ("ATC", "A02BC01", "omeprazole", "ATC 5th", "Drug", 923645),
    ("ATC", "R03AC02", "salbutamol", "ATC 5th", "Drug", 1154343),
    ("ATC", "R03BB04", "tiotropium bromide", "ATC 5th", "Drug", 1106776),
    ("ATC", "J05AF10", "entecavir", "ATC 5th", "Drug", 1711246),
    ("ATC", "M04AA01", "allopurinol", "ATC 5th", "Drug", 1167322),
    ("ATC", "N06AB06", "sertraline", "ATC 5th", "Drug", 739138),
    ("ATC", "M01AB05", "diclofenac", "ATC 5th", "Drug", 1124300),
    # NHI drug codes (local)
    ("NHI Drug", "AC46525100", "METFORMIN 500MG", "NHI Drug Code", "Drug", 1503297),
    ("NHI Drug", "AC43291100", "GLIMEPIRIDE 2MG", "NHI Drug Code", "Drug", 1597756),
    ("NHI Drug", "BC24977100", "SITAGLIPTIN 100MG", "NHI Drug Code", "Drug", 1580747),
    ("NHI Drug", "KC00822209", "INSULIN GLARGINE 100U/ML", "NHI Drug Code", "Drug", 1502905),
    ("NHI Drug", "AC41563100", "AMLODIPINE 5MG", "NHI Drug Code", "Drug", 1332418),
    ("NHI Drug", "BC22451100", "LOSARTAN 50MG", "NHI Drug Code", "Drug", 1367500),
    ("NHI Drug", "AC45856100", "FUROSEMIDE 40MG", "NHI Drug Code", "Drug", 956874),
    ("NHI Drug", "BC23798100", "ATORVASTATIN 20MG", "NHI Drug Code", "Drug", 1545958),
    ("NHI Drug", "BC24533100", "ROSUVASTATIN 10MG", "NHI Drug Code", "Drug", 1510813),
    ("NHI Drug", "AC35710100", "ASPIRIN 100MG", "NHI Drug Code", "Drug", 1112807),
    ("NHI Drug", "BC23345100", "CLOPIDOGREL 75MG", "NHI Drug Code", "Drug", 1322184),
    ("NHI Drug", "AC44563100", "ACETAMINOPHEN 500MG", "NHI Drug Code", "Drug", 1125315),
    ("NHI Drug", "AC38120100", "DEXTROMETHORPHAN 15MG", "NHI Drug Code", "Drug", 1119510),
    ("NHI Drug", "AC27531100", "AMOXICILLIN 500MG", "NHI Drug Code", "Drug", 1713332),
    ("NHI Drug", "AC32011100", "CEPHALEXIN 500MG", "NHI Drug Code", "Drug", 1786621),
    ("NHI Drug", "AC47029100", "OMEPRAZOLE 20MG", "NHI Drug Code", "Drug", 923645),
    ("NHI Drug", "BC20688100", "SALBUTAMOL INHALER", "NHI Drug Code", "Drug", 1154343),
    ("NHI Drug", "BC24316100", "TIOTROPIUM 18MCG", "NHI Drug Code", "Drug", 1106776),
    ("NHI Drug", "BC24211100", "ENTECAVIR 0.5MG", "NHI Drug Code", "Drug", 1711246),
    ("NHI Drug", "AC39951100", "ALLOPURINOL 100MG", "NHI Drug Code", "Drug", 1167322),
    ("NHI Drug", "BC22987100", "SERTRALINE 50MG", "NHI Drug Code", "Drug", 739138),
    ("NHI Drug", "AC36112100", "DICLOFENAC 25MG", "NHI Drug Code", "Drug", 1124300),
    # NHI fee codes (local): lab tests, procedures, special material
    ("NHI Fee", "09005C", "Blood glucose", "NHI Fee Code", "Measurement", 3004501),
    ("NHI Fee", "09006C", "Haemoglobin A1c", "NHI Fee Code", "Measurement", 3004410),
    ("NHI Fee", "09001C", "Total cholesterol", "NHI Fee Code", "Measurement", 3027114),
    ("NHI Fee", "09015C", "Creatinine", "NHI Fee Code", "Measurement", 3016723),
    ("NHI Fee", "08011C", "Complete blood count", "NHI Fee Code", "Measurement", 3001643),
    ("NHI Fee", "18001C", "Electrocardiogram", "NHI Fee Code", "Procedure", 4163951),
    ("NHI Fee", "32001C", "Chest X-ray", "NHI Fee Code", "Procedure", 4163872),
    ("NHI Fee", "58001C", "Haemodialysis", "NHI Fee Code", "Procedure", 4120120),
    ("NHI Fee", "FBN0201A", "Coronary drug-eluting stent", "NHI Fee Code", "Procedure", 43531439),
    # NBCT specimen types (local)
    ("NBCT Specimen", "BLOOD", "Whole blood", "NBCT Specimen Type", "Specimen", 4001225),
    ("NBCT Specimen", "SERUM", "Serum", "NBCT Specimen Type", "Specimen", 4001181),
    ("NBCT Specimen", "PLASMA", "Plasma", "NBCT Specimen Type", "Specimen", 4000626),
    ("NBCT Specimen", "DNA", "Extracted DNA", "NBCT Specimen Type", "Specimen", "crossbridge:13"),
    ("NBCT Specimen", "TISSUE", "Tissue", "NBCT Specimen Type", "Specimen", "crossbridge:12"),
    ("NBCT Specimen", "URINE", "Urine", "NBCT Specimen Type", "Specimen", 4046280),
    ("NBCT Specimen", "SALIVA", "Saliva", "NBCT Specimen Type", "Specimen", "crossbridge:11"),
)

# Traditional Chinese names of the NHI drugs (CONCEPT_SYNONYM, language 4182948)
NHI_DRUG_CHINESE: dict[str, str] = {
    "AC46525100": "二甲雙胍",
    "AC43291100": "瑪爾胰",
    "BC24977100": "西格列汀",
    "KC00822209": "甘精胰島素",
    "AC41563100": "氨氯地平",
    "BC22451100": "洛沙坦",
    "AC45856100": "福魯塞米",
    "BC23798100": "阿托伐他汀",
    "BC24533100": "瑞舒伐他汀",
    "AC35710100": "阿斯匹靈",
    "BC23345100": "保栓通",
    "AC44563100": "乙醯胺酚",
    "AC38120100": "右美沙芬",
    "AC27531100": "安莫西林",
    "AC32011100": "頭孢力新",
    "AC47029100": "奧美拉唑",
    "BC20688100": "沙丁胺醇",
    "BC24316100": "適喘樂",
    "BC24211100": "恩替卡韋",
    "AC39951100": "別嘌醇",
    "BC22987100": "舍曲林",
    "AC36112100": "雙氯芬酸",
}

# Concept 0 ("No matching concept"): what every unmapped *_concept_id holds; Athena ships it
# (non-standard, vocabulary 'None'), and foreign keys to concept must find it.
# (id, name, domain, vocabulary, class, code)
NO_MATCHING_CONCEPT = (0, "No matching concept", "Metadata", "None", "Undefined", "No matching concept")

# Domains used (domain_concept_id from Eunomia DOMAIN.csv; 0 where unconfirmed)
DOMAINS: dict[str, int] = {
    "Condition": 19, "Device": 17, "Drug": 13, "Gender": 2, "Measurement": 21,
    "Metadata": 7, "Observation": 27, "Procedure": 10, "Specimen": 36,
    "Type Concept": 58, "Visit": 8, "Condition Status": 0,
}

# Relationships (relationship_concept_id from Eunomia RELATIONSHIP.csv)
# id -> (name, is_hierarchical, defines_ancestry, reverse, concept id)
RELATIONSHIPS: dict[str, tuple[str, str, str, str, int]] = {
    "Maps to": ("Non-standard to Standard map (OMOP)", "0", "0", "Mapped from", 44818977),
    "Mapped from": ("Standard to Non-standard map (OMOP)", "0", "0", "Maps to", 44818976),
    "Is a": ("Is a", "1", "0", "Subsumes", 44818821),
    "Subsumes": ("Subsumes", "1", "1", "Is a", 44818723),
}

VALID_START = "19700101"
VALID_END = "20991231"

# --------------------------------------------------------------------------
# Finnish source vocabularies (build.py writes them as FinOMOP-style
# usagi-extended files into finomop/, one per vocabulary, plus
# vocabularies.csv).  FinOMOP's offsets (reference/finomop/vocabularies.csv)
# for the FinOMOP vocabularies; 'FI Biobank Specimen' is a project block.
# --------------------------------------------------------------------------
FINOMOP_VOCABULARIES: dict[str, tuple[str, int]] = {
    "ICD10fi": ("International Classification of Diseases 10th Revision Finnish extension", 2_000_500_000),
    "ICD9fi": ("ICD-9 Finnish", 2_000_400_000),
    "ICD8fi": ("ICD-8 Finnish", 2_000_300_000),
    "ICPC": ("ICPC", 2_002_000_000),
    "NCSPfi": ("Nomeso Codes", 2_001_300_000),
    "VNRfi": ("VNR Finnish", 2_001_900_000),
    "REIMB": ("Reimbursement", 2_001_600_000),
    "FI Biobank Specimen": ("Finnish biobank sample types", VOCABULARY_BLOCKS["FI Biobank Specimen"]),
}

# Usagi equivalence (FHIR ConceptMap semantics): WIDER = the target is wider
# in meaning than the source code, NARROWER = narrower, INEXACT = overlapping.
# (vocabulary, code as FinOMOP writes concept_code, English name, Finnish name,
#  concept class, domain, ((target id | "crossbridge:<offset>", equivalence), ...)).
# No target: the code is a source concept without mapping (status UNCHECKED).
# Order inside a vocabulary fixes the concept id (offset + position): append only.
_C = "Condition"
FI_SOURCE: tuple[tuple[str, str, str, str, str, str, tuple[tuple[int | str, str], ...]], ...] = (
    # ICD10fi: the conditions of crossbridge/synth/fi_catalogue.py (1996 on)
    ("ICD10fi", "E11.9", "Non-insulin-dependent diabetes mellitus without complications", "Tyypin 2 diabetes ilman komplikaatioita", "ICD10 code", _C, ((201826, "EQUAL"),)),
    ("ICD10fi", "I10", "Essential (primary) hypertension", "Essentiaalinen verenpainetauti", "ICD10 code", _C, ((320128, "EQUAL"),)),
    ("ICD10fi", "E78.5", "Hyperlipidaemia, unspecified", "Hyperlipidemia, määrittämätön", "ICD10 code", _C, ((432867, "EQUAL"),)),
    ("ICD10fi", "N18.9", "Chronic kidney disease, unspecified", "Krooninen munuaistauti, määrittämätön", "ICD10 code", _C, ((46271022, "EQUAL"),)),
    ("ICD10fi", "I25.1", "Atherosclerotic heart disease", "Sepelvaltimoiden kovettumatauti", "ICD10 code", _C, ((317576, "EQUIVALENT"),)),
    ("ICD10fi", "J44.9", "Chronic obstructive pulmonary disease, unspecified", "Keuhkoahtaumatauti, määrittämätön", "ICD10 code", _C, ((255573, "EQUAL"),)),
    ("ICD10fi", "J45.9", "Asthma, unspecified", "Astma, määrittämätön", "ICD10 code", _C, ((317009, "EQUAL"),)),
    ("ICD10fi", "B18.1", "Chronic viral hepatitis B without delta-agent", "Krooninen B-hepatiitti ilman delta-agenssia", "ICD10 code", _C, ((4281232, "WIDER"),)),
    ("ICD10fi", "M19.9", "Arthrosis, unspecified", "Nivelrikko, määrittämätön", "ICD10 code", _C, ((80180, "EQUAL"),)),
    ("ICD10fi", "F32.9", "Depressive episode, unspecified", "Masennustila, määrittämätön", "ICD10 code", _C, ((440383, "EQUIVALENT"),)),
    ("ICD10fi", "M10.9", "Gout, unspecified", "Kihti, määrittämätön", "ICD10 code", _C, ((440674, "EQUAL"),)),
    ("ICD10fi", "J06.9", "Acute upper respiratory infection, unspecified", "Äkillinen ylähengitystieinfektio, määrittämätön", "ICD10 code", _C, ((257011, "EQUAL"),)),
    ("ICD10fi", "J20.9", "Acute bronchitis, unspecified", "Äkillinen keuhkoputkitulehdus, määrittämätön", "ICD10 code", _C, ((260139, "EQUAL"),)),
    ("ICD10fi", "J02.9", "Acute pharyngitis, unspecified", "Äkillinen nielutulehdus, määrittämätön", "ICD10 code", _C, ((4226263, "WIDER"),)),
    ("ICD10fi", "K52.9", "Noninfective gastroenteritis and colitis, unspecified", "Ei-infektiivinen maha-suolitulehdus, määrittämätön", "ICD10 code", _C, ((4101468, "EQUIVALENT"),)),
    ("ICD10fi", "M54.5", "Low back pain", "Alaselkäkipu", "ICD10 code", _C, ((194133, "EQUAL"),)),
    ("ICD10fi", "N39.0", "Urinary tract infection, site not specified", "Virtsatieinfektio, paikka määrittämätön", "ICD10 code", _C, ((81902, "EQUAL"),)),
    ("ICD10fi", "J18.9", "Pneumonia, unspecified", "Keuhkokuume, määrittämätön", "ICD10 code", _C, ((255848, "EQUAL"),)),
    ("ICD10fi", "I21.9", "Acute myocardial infarction, unspecified", "Äkillinen sydäninfarkti, määrittämätön", "ICD10 code", _C, ((312327, "EQUAL"),)),
    ("ICD10fi", "I63.9", "Cerebral infarction, unspecified", "Aivoinfarkti, määrittämätön", "ICD10 code", _C, ((443454, "EQUAL"),)),
    ("ICD10fi", "I50.9", "Heart failure, unspecified", "Sydämen vajaatoiminta, määrittämätön", "ICD10 code", _C, ((316139, "EQUAL"),)),
    # ICD10fi: cancers (Finnish Cancer Registry ICD-10 and causes of death)
    ("ICD10fi", "C34.9", "Malignant neoplasm: Bronchus or lung, unspecified", "Keuhkoputken tai keuhkon syöpä, määrittämätön", "ICD10 code", _C, ((258369, "EQUIVALENT"),)),
    ("ICD10fi", "C50.9", "Malignant neoplasm: Breast, unspecified", "Rintasyöpä, määrittämätön", "ICD10 code", _C, ((4112853, "EQUIVALENT"),)),
    ("ICD10fi", "C18.9", "Malignant neoplasm: Colon, unspecified", "Paksusuolen syöpä, määrittämätön", "ICD10 code", _C, ((197500, "EQUIVALENT"),)),
    ("ICD10fi", "C22.0", "Liver cell carcinoma", "Maksasolusyöpä", "ICD10 code", _C, ((201519, "WIDER"),)),
    ("ICD10fi", "C61", "Malignant neoplasm of prostate", "Eturauhassyöpä", "ICD10 code", _C, ((200962, "EQUIVALENT"),)),
    # ICD10fi: combination codes (fi_catalogue.COMBINATIONS), whole ...
    ("ICD10fi", "E11.3+H36.0", "Non-insulin-dependent diabetes mellitus - Diabetic retinopathy", "Tyypin 2 diabeteksen retinopatia", "ICD10fi Hierarchy", _C, ((4226121, "EQUAL"),)),
    ("ICD10fi", "E11.2+N08.3", "Non-insulin-dependent diabetes mellitus - Diabetic nephropathy", "Tyypin 2 diabeteksen nefropatia", "ICD10fi Hierarchy", _C, ((443731, "EQUIVALENT"),)),
    ("ICD10fi", "A17.0+G01", "Tuberculous meningitis", "Tuberkuloottinen aivokalvotulehdus", "ICD10fi Hierarchy", _C, ((441775, "EQUAL"),)),
    ("ICD10fi", "S72.00&W19", "Fracture of neck of femur, closed - Unspecified fall", "Reisiluun kaulan murtuma, umpinainen - kaatuminen", "ICD10fi Hierarchy", _C, (("crossbridge:21", "EQUIVALENT"), (436583, "EQUIVALENT"))),
    ("ICD10fi", "L27.0#J01CA04", "Generalized skin eruption due to drugs and medicaments - amoxicillin", "Lääkkeen aiheuttama yleistynyt ihottuma - amoksisilliini", "ICD10fi Hierarchy", _C, (("crossbridge:22", "WIDER"),)),
    # ... and their parts (the part roles are in terminology.fi_icd10.parse_fi_icd10)
    ("ICD10fi", "E11.3", "Non-insulin-dependent diabetes mellitus with ophthalmic complications", "Tyypin 2 diabetes, silmäkomplikaatiot", "ICD10 code", _C, ((201826, "WIDER"),)),
    ("ICD10fi", "H36.0", "Diabetic retinopathy", "Diabeettinen retinopatia", "ICD10 code", _C, ((4174977, "EQUAL"),)),
    ("ICD10fi", "E11.2", "Non-insulin-dependent diabetes mellitus with renal complications", "Tyypin 2 diabetes, munuaiskomplikaatiot", "ICD10 code", _C, ((201826, "WIDER"),)),
    ("ICD10fi", "N08.3", "Glomerular disorders in diabetes mellitus", "Munuaiskerästen sairaudet diabeteksessa", "ICD10 code", _C, ((192279, "EQUIVALENT"),)),
    ("ICD10fi", "A17.0", "Tuberculous meningitis", "Tuberkuloottinen aivokalvotulehdus", "ICD10 code", _C, ((441775, "EQUAL"),)),
    ("ICD10fi", "G01", "Meningitis in bacterial diseases classified elsewhere", "Aivokalvotulehdus muualla luokitetuissa bakteeritaudeissa", "ICD10 code", _C, ((436091, "WIDER"),)),
    ("ICD10fi", "S72.00", "Fracture of neck of femur, closed", "Reisiluun kaulan murtuma, umpinainen", "ICD10fi 1 Code", _C, (("crossbridge:21", "WIDER"),)),
    ("ICD10fi", "W19", "Unspecified fall", "Määrittämätön kaatuminen", "ICD10 code", "Observation", ((436583, "EQUIVALENT"),)),
    ("ICD10fi", "L27.0", "Generalized skin eruption due to drugs and medicaments", "Lääkkeen tai lääkeaineen aiheuttama yleistynyt ihottuma", "ICD10 code", _C, (("crossbridge:22", "WIDER"),)),
    # ICD9fi (1987-1995): Finnish ICD-9, 4 digits + check letter
    ("ICD9fi", "2500B", "Diabetes mellitus, type 2", "Tyypin 2 diabetes", "ICD9fi code", _C, ((201826, "EQUAL"),)),
    ("ICD9fi", "4019X", "Essential hypertension", "Essentiaalinen verenpainetauti", "ICD9fi code", _C, ((320128, "EQUAL"),)),
    ("ICD9fi", "2722A", "Mixed hyperlipidaemia", "Sekamuotoinen hyperlipidemia", "ICD9fi code", _C, ((432867, "WIDER"),)),
    ("ICD9fi", "5859X", "Chronic renal failure", "Krooninen munuaisten vajaatoiminta", "ICD9fi code", _C, ((46271022, "EQUIVALENT"),)),
    ("ICD9fi", "4140X", "Coronary atherosclerosis", "Sepelvaltimoiden kovettumatauti", "ICD9fi code", _C, ((317576, "EQUAL"),)),
    ("ICD9fi", "4960X", "Chronic airway obstruction", "Krooninen hengitysteiden ahtauma", "ICD9fi code", _C, ((255573, "EQUAL"),)),
    ("ICD9fi", "4939X", "Asthma, unspecified", "Astma, määrittämätön", "ICD9fi code", _C, ((317009, "EQUAL"),)),
    ("ICD9fi", "0703A", "Chronic viral hepatitis B", "Krooninen B-hepatiitti", "ICD9fi code", _C, ((4281232, "EQUAL"),)),
    ("ICD9fi", "7159X", "Osteoarthrosis, unspecified", "Nivelrikko, määrittämätön", "ICD9fi code", _C, ((80180, "EQUAL"),)),
    ("ICD9fi", "2961B", "Major depression, single episode", "Vakava masennus, yksittäinen jakso", "ICD9fi code", _C, ((440383, "WIDER"),)),
    ("ICD9fi", "2749X", "Gout, unspecified", "Kihti, määrittämätön", "ICD9fi code", _C, ((440674, "EQUAL"),)),
    ("ICD9fi", "4659X", "Acute upper respiratory infection", "Äkillinen ylähengitystieinfektio", "ICD9fi code", _C, ((257011, "EQUAL"),)),
    ("ICD9fi", "4660A", "Acute bronchitis", "Äkillinen keuhkoputkitulehdus", "ICD9fi code", _C, ((260139, "EQUAL"),)),
    ("ICD9fi", "4629X", "Acute pharyngitis", "Äkillinen nielutulehdus", "ICD9fi code", _C, ((4226263, "WIDER"),)),
    ("ICD9fi", "5589X", "Noninfectious gastroenteritis and colitis", "Ei-infektiivinen maha-suolitulehdus", "ICD9fi code", _C, ((4101468, "EQUIVALENT"),)),
    ("ICD9fi", "7242A", "Lumbago", "Lanneselän kipu", "ICD9fi code", _C, ((194133, "EQUAL"),)),
    ("ICD9fi", "5990A", "Urinary tract infection", "Virtsatieinfektio", "ICD9fi code", _C, ((81902, "EQUAL"),)),
    ("ICD9fi", "4869X", "Pneumonia, organism unspecified", "Keuhkokuume, aiheuttaja määrittämätön", "ICD9fi code", _C, ((255848, "EQUAL"),)),
    ("ICD9fi", "4109X", "Acute myocardial infarction", "Äkillinen sydäninfarkti", "ICD9fi code", _C, ((312327, "EQUAL"),)),
    ("ICD9fi", "4349X", "Occlusion of cerebral arteries with infarction", "Aivovaltimon tukos ja aivoinfarkti", "ICD9fi code", _C, ((443454, "EQUAL"),)),
    ("ICD9fi", "4280A", "Congestive heart failure", "Kongestiivinen sydämen vajaatoiminta", "ICD9fi code", _C, ((316139, "WIDER"),)),
    # ICD8fi (before 1987): 5 digits
    ("ICD8fi", "25000", "Diabetes mellitus", "Diabetes", "ICD8fi code", _C, ((201826, "NARROWER"),)),
    ("ICD8fi", "40199", "Essential benign hypertension", "Hyvänlaatuinen verenpainetauti", "ICD8fi code", _C, ((320128, "EQUAL"),)),
    ("ICD8fi", "27200", "Hypercholesterolaemia", "Hyperkolesterolemia", "ICD8fi code", _C, ((432867, "WIDER"),)),
    ("ICD8fi", "58299", "Chronic nephritis", "Krooninen munuaistulehdus", "ICD8fi code", _C, ((46271022, "INEXACT"),)),
    ("ICD8fi", "41299", "Chronic ischaemic heart disease", "Krooninen iskeeminen sydäntauti", "ICD8fi code", _C, ((317576, "EQUIVALENT"),)),
    ("ICD8fi", "49199", "Chronic bronchitis", "Krooninen keuhkoputkitulehdus", "ICD8fi code", _C, ((255573, "INEXACT"),)),
    ("ICD8fi", "49399", "Asthma", "Astma", "ICD8fi code", _C, ((317009, "EQUAL"),)),
    ("ICD8fi", "07099", "Viral hepatitis", "Virushepatiitti", "ICD8fi code", _C, ((4281232, "NARROWER"),)),
    ("ICD8fi", "71399", "Osteoarthrosis", "Nivelrikko", "ICD8fi code", _C, ((80180, "EQUAL"),)),
    ("ICD8fi", "29699", "Affective psychosis", "Mielialahäiriöpsykoosi", "ICD8fi code", _C, ((440383, "INEXACT"),)),
    ("ICD8fi", "27499", "Gout", "Kihti", "ICD8fi code", _C, ((440674, "EQUAL"),)),
    ("ICD8fi", "46599", "Acute upper respiratory infection", "Äkillinen ylähengitystieinfektio", "ICD8fi code", _C, ((257011, "EQUAL"),)),
    ("ICD8fi", "46600", "Acute bronchitis", "Äkillinen keuhkoputkitulehdus", "ICD8fi code", _C, ((260139, "EQUAL"),)),
    ("ICD8fi", "46299", "Acute pharyngitis", "Äkillinen nielutulehdus", "ICD8fi code", _C, ((4226263, "WIDER"),)),
    ("ICD8fi", "00999", "Diarrhoeal disease", "Ripulitauti", "ICD8fi code", _C, ((4101468, "INEXACT"),)),
    ("ICD8fi", "72899", "Back pain", "Selkäkipu", "ICD8fi code", _C, ((194133, "NARROWER"),)),
    ("ICD8fi", "59999", "Urinary tract infection", "Virtsatieinfektio", "ICD8fi code", _C, ((81902, "EQUAL"),)),
    ("ICD8fi", "48699", "Pneumonia, unspecified", "Keuhkokuume, määrittämätön", "ICD8fi code", _C, ((255848, "EQUAL"),)),
    ("ICD8fi", "41099", "Acute myocardial infarction", "Äkillinen sydäninfarkti", "ICD8fi code", _C, ((312327, "EQUAL"),)),
    ("ICD8fi", "43399", "Cerebral infarction", "Aivoinfarkti", "ICD8fi code", _C, ((443454, "EQUAL"),)),
    ("ICD8fi", "42799", "Heart failure", "Sydämen vajaatoiminta", "ICD8fi code", _C, ((316139, "EQUAL"),)),
    # ICPC-2 (Avohilmo reasons for encounter)
    ("ICPC", "T90", "Diabetes non-insulin dependent", "Diabetes, ei insuliinihoitoinen", "ICPC2 code", _C, ((201826, "EQUAL"),)),
    ("ICPC", "K86", "Hypertension uncomplicated", "Komplisoitumaton verenpainetauti", "ICPC2 code", _C, ((320128, "EQUIVALENT"),)),
    ("ICPC", "T93", "Lipid disorder", "Rasva-aineenvaihdunnan häiriö", "ICPC2 code", _C, ((432867, "NARROWER"),)),
    ("ICPC", "U99", "Urinary disease, other", "Muu virtsateiden sairaus", "ICPC2 code", _C, ((46271022, "NARROWER"),)),
    ("ICPC", "K76", "Ischaemic heart disease without angina", "Iskeeminen sydäntauti ilman angina pectorista", "ICPC2 code", _C, ((317576, "EQUIVALENT"),)),
    ("ICPC", "R95", "Chronic obstructive pulmonary disease", "Keuhkoahtaumatauti", "ICPC2 code", _C, ((255573, "EQUAL"),)),
    ("ICPC", "R96", "Asthma", "Astma", "ICPC2 code", _C, ((317009, "EQUAL"),)),
    ("ICPC", "D72", "Viral hepatitis", "Virushepatiitti", "ICPC2 code", _C, ((4281232, "NARROWER"),)),
    ("ICPC", "L91", "Osteoarthrosis other", "Muu nivelrikko", "ICPC2 code", _C, ((80180, "EQUIVALENT"),)),
    ("ICPC", "P76", "Depressive disorder", "Masennus", "ICPC2 code", _C, ((440383, "EQUAL"),)),
    ("ICPC", "T92", "Gout", "Kihti", "ICPC2 code", _C, ((440674, "EQUAL"),)),
    ("ICPC", "R74", "Upper respiratory infection acute", "Äkillinen ylähengitystieinfektio", "ICPC2 code", _C, ((257011, "EQUAL"),)),
    ("ICPC", "R78", "Acute bronchitis/bronchiolitis", "Äkillinen keuhkoputkitulehdus", "ICPC2 code", _C, ((260139, "EQUIVALENT"),)),
    ("ICPC", "R76", "Tonsillitis acute", "Äkillinen nielurisatulehdus", "ICPC2 code", _C, ((4226263, "INEXACT"),)),
    ("ICPC", "D73", "Gastroenteritis presumed infection", "Maha-suolitulehdus", "ICPC2 code", _C, ((4101468, "EQUIVALENT"),)),
    ("ICPC", "L03", "Low back symptom/complaint", "Alaselän oire", "ICPC2 code", _C, ((194133, "EQUIVALENT"),)),
    ("ICPC", "U71", "Cystitis/urinary infection other", "Virtsarakon tulehdus / muu virtsatieinfektio", "ICPC2 code", _C, ((81902, "EQUIVALENT"),)),
    ("ICPC", "R81", "Pneumonia", "Keuhkokuume", "ICPC2 code", _C, ((255848, "EQUAL"),)),
    ("ICPC", "K75", "Acute myocardial infarction", "Äkillinen sydäninfarkti", "ICPC2 code", _C, ((312327, "EQUAL"),)),
    ("ICPC", "K90", "Stroke/cerebrovascular accident", "Aivohalvaus", "ICPC2 code", _C, ((443454, "NARROWER"),)),
    ("ICPC", "K77", "Heart failure", "Sydämen vajaatoiminta", "ICPC2 code", _C, ((316139, "EQUAL"),)),
    # ICPC-2 process codes: the kind of contact work, no diagnosis -> no mapping
    ("ICPC", "-30", "Medical examination/health evaluation - complete", "Laaja lääkärintarkastus", "ICPC2 process", "Observation", ()),
    ("ICPC", "-31", "Medical examination/health evaluation - partial", "Suppea lääkärintarkastus", "ICPC2 process", "Observation", ()),
    ("ICPC", "-50", "Medication - prescription/request/renewal/injection", "Lääkitys - resepti/uusinta/injektio", "ICPC2 process", "Observation", ()),
    ("ICPC", "-45", "Observation/health education/advice/diet", "Seuranta/terveysneuvonta/ruokavalio", "ICPC2 process", "Observation", ()),
    # NCSP-F procedures (Hilmo, Avohilmo)
    ("NCSPfi", "JEA00", "Appendicectomy", "Umpilisäkkeen poisto", "NCSPfi code", "Procedure", ((4198190, "EQUAL"),)),
    ("NCSPfi", "FNG05", "Percutaneous coronary angioplasty with drug-eluting stent", "Sepelvaltimon pallolaajennus ja lääkestentti", "NCSPfi code", "Procedure", ((43531439, "EQUIVALENT"),)),
    ("NCSPfi", "NGB20", "Primary total knee prosthesis", "Polven kokotekonivel, primaari", "NCSPfi code", "Procedure", ((43531648, "EQUIVALENT"),)),
    ("NCSPfi", "KAS10", "Haemodialysis", "Hemodialyysi", "NCSPfi code", "Procedure", ((4120120, "EQUAL"),)),
    ("NCSPfi", "SB211", "Electrocardiography (ECG)", "Sydänsähkökäyrä (EKG)", "NCSPfi code", "Procedure", ((4163951, "EQUAL"),)),
    ("NCSPfi", "GD1AA", "Chest X-ray", "Keuhkojen röntgenkuvaus", "NCSPfi code", "Procedure", ((4163872, "EQUAL"),)),
    # VNR package numbers (Kela purchases) -> RxNorm ingredient of their ATC
    ("VNRfi", "012345", "Metformin 500 mg 100 tabl", "Metformiini 500 mg 100 tabl", "VNRfi package", "Drug", ((1503297, "WIDER"),)),
    ("VNRfi", "012346", "Metformin 500 mg 100 tabl", "Metformiini 500 mg 100 tabl", "VNRfi package", "Drug", ((1503297, "WIDER"),)),
    ("VNRfi", "081234", "Sitagliptin 100 mg 98 tabl", "Sitagliptiini 100 mg 98 tabl", "VNRfi package", "Drug", ((1580747, "WIDER"),)),
    ("VNRfi", "003471", "Insulin glargine 100 U/ml 5x3 ml", "Glargininsuliini 100 U/ml 5x3 ml", "VNRfi package", "Drug", ((1502905, "WIDER"),)),
    ("VNRfi", "045678", "Amlodipine 5 mg 100 tabl", "Amlodipiini 5 mg 100 tabl", "VNRfi package", "Drug", ((1332418, "WIDER"),)),
    ("VNRfi", "045679", "Amlodipine 5 mg 100 tabl", "Amlodipiini 5 mg 100 tabl", "VNRfi package", "Drug", ((1332418, "WIDER"),)),
    ("VNRfi", "004312", "Losartan 50 mg 98 tabl", "Losartaani 50 mg 98 tabl", "VNRfi package", "Drug", ((1367500, "WIDER"),)),
    ("VNRfi", "056781", "Furosemide 40 mg 100 tabl", "Furosemidi 40 mg 100 tabl", "VNRfi package", "Drug", ((956874, "WIDER"),)),
    ("VNRfi", "000524", "Atorvastatin 20 mg 98 tabl", "Atorvastatiini 20 mg 98 tabl", "VNRfi package", "Drug", ((1545958, "WIDER"),)),
    ("VNRfi", "000525", "Atorvastatin 20 mg 98 tabl", "Atorvastatiini 20 mg 98 tabl", "VNRfi package", "Drug", ((1545958, "WIDER"),)),
    ("VNRfi", "114523", "Rosuvastatin 10 mg 98 tabl", "Rosuvastatiini 10 mg 98 tabl", "VNRfi package", "Drug", ((1510813, "WIDER"),)),
    ("VNRfi", "066112", "Acetylsalicylic acid 100 mg 100 tabl", "Asetyylisalisyylihappo 100 mg 100 tabl", "VNRfi package", "Drug", ((1112807, "WIDER"),)),
    ("VNRfi", "079011", "Clopidogrel 75 mg 98 tabl", "Klopidogreeli 75 mg 98 tabl", "VNRfi package", "Drug", ((1322184, "WIDER"),)),
    ("VNRfi", "008834", "Paracetamol 500 mg 30 tabl", "Parasetamoli 500 mg 30 tabl", "VNRfi package", "Drug", ((1125315, "WIDER"),)),
    ("VNRfi", "001187", "Amoxicillin 500 mg 30 caps", "Amoksisilliini 500 mg 30 kaps", "VNRfi package", "Drug", ((1713332, "WIDER"),)),
    ("VNRfi", "011893", "Cefalexin 500 mg 20 tabl", "Kefaleksiini 500 mg 20 tabl", "VNRfi package", "Drug", ((1786621, "WIDER"),)),
    ("VNRfi", "090241", "Omeprazole 20 mg 100 caps", "Omepratsoli 20 mg 100 kaps", "VNRfi package", "Drug", ((923645, "WIDER"),)),
    ("VNRfi", "047712", "Salbutamol 0.1 mg/dose inhaler", "Salbutamoli 0,1 mg/annos inhalaatiosumute", "VNRfi package", "Drug", ((1154343, "WIDER"),)),
    ("VNRfi", "082290", "Tiotropium 18 mcg 30 caps", "Tiotropium 18 mikrog 30 kaps", "VNRfi package", "Drug", ((1106776, "WIDER"),)),
    ("VNRfi", "033381", "Allopurinol 100 mg 100 tabl", "Allopurinoli 100 mg 100 tabl", "VNRfi package", "Drug", ((1167322, "WIDER"),)),
    ("VNRfi", "021450", "Sertraline 50 mg 98 tabl", "Sertraliini 50 mg 98 tabl", "VNRfi package", "Drug", ((739138, "WIDER"),)),
    ("VNRfi", "007765", "Diclofenac 50 mg 30 tabl", "Diklofenaakki 50 mg 30 tabl", "VNRfi package", "Drug", ((1124300, "WIDER"),)),
    # Kela special reimbursement rights (SK1) -> the condition they are granted for
    ("REIMB", "103", "Diabetes", "Diabetes", "REIMB code", _C, ((201820, "EQUIVALENT"),)),
    ("REIMB", "201", "Chronic heart failure", "Krooninen sydämen vajaatoiminta", "REIMB code", _C, ((316139, "NARROWER"),)),
    ("REIMB", "203", "Chronic asthma and similar chronic obstructive pulmonary diseases", "Krooninen keuhkoastma ja sitä läheisesti muistuttavat krooniset obstruktiiviset keuhkosairaudet", "REIMB code", _C, ((317009, "NARROWER"), (255573, "NARROWER"))),
    ("REIMB", "205", "Chronic hypertension", "Krooninen verenpainetauti", "REIMB code", _C, ((316866, "EQUIVALENT"),)),
    ("REIMB", "206", "Chronic coronary heart disease", "Krooninen sepelvaltimotauti", "REIMB code", _C, ((317576, "EQUIVALENT"),)),
    ("REIMB", "211", "Hereditary hyperlipidaemia", "Perinnöllinen hyperlipidemia", "REIMB code", _C, ((432867, "WIDER"),)),
    # Finnish biobank sample types (project vocabulary)
    ("FI Biobank Specimen", "KOKOVERI", "Whole blood", "Kokoveri", "FI Sample Type", "Specimen", ((4001225, "EQUIVALENT"),)),
    ("FI Biobank Specimen", "SEERUMI", "Serum", "Seerumi", "FI Sample Type", "Specimen", ((4001181, "EQUAL"),)),
    ("FI Biobank Specimen", "PLASMA", "Plasma", "Plasma", "FI Sample Type", "Specimen", ((4000626, "EQUAL"),)),
    ("FI Biobank Specimen", "DNA", "Extracted DNA", "Eristetty DNA", "FI Sample Type", "Specimen", (("crossbridge:13", "EQUAL"),)),
    ("FI Biobank Specimen", "KUDOS", "Tissue", "Kudos", "FI Sample Type", "Specimen", (("crossbridge:12", "EQUAL"),)),
    ("FI Biobank Specimen", "VIRTSA", "Urine", "Virtsa", "FI Sample Type", "Specimen", ((4046280, "EQUAL"),)),
)
