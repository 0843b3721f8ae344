"""Well-known OMOP standard concept ids used by the mappings.

Ids are those of the public OMOP vocabularies (Athena); the demo vocabulary in
``terminology/demo_vocabulary`` carries every one of them, and a test checks
that each constant here exists there with the expected domain.
"""

# Gender
GENDER_MALE = 8507
GENDER_FEMALE = 8532
# Visits
VISIT_INPATIENT = 9201
VISIT_OUTPATIENT = 9202
VISIT_EMERGENCY = 9203
VISIT_ER_AND_INPATIENT = 262
VISIT_PHARMACY = 581458
# Type concepts (provenance of a record)
TYPE_CLAIM = 32810
TYPE_PHARMACY_CLAIM = 32869
TYPE_EHR = 32817
TYPE_REGISTRY = 32879
TYPE_DEATH_CERTIFICATE = 32815
# Condition status
STATUS_PRIMARY_DIAGNOSIS = 32902
STATUS_SECONDARY_DIAGNOSIS = 32908
# Cause-of-death roles (Condition Status vocabulary)
STATUS_UNDERLYING_CAUSE_OF_DEATH = 32911
STATUS_IMMEDIATE_CAUSE_OF_DEATH = 32897
STATUS_CONTRIBUTORY_CAUSE_OF_DEATH = 32894
# Biobank consent (project-local standard concepts, vocabulary 'Crossbridge':
# no public id could be confirmed offline; see terminology/demo_vocabulary/README.md)
OBSERVATION_BIOBANK_BROAD_CONSENT = 2_000_000_001
OBSERVATION_BIOBANK_CONSENT_WITHDRAWN = 2_000_000_002
# Unmapped
NO_MATCHING_CONCEPT = 0
# Local concept ids start at 2,000,000,000 (OMOP reserves ids above 2 billion
# for local concepts).  FinOMOP's published vocabularies (ICD10fi, VNRfi, ...)
# use blocks from 2,000,100,000 up (reference/finomop/vocabularies.csv), so
# the project keeps only 'Crossbridge' (2,000,000,000, below FinOMOP's first
# block) there and puts every other project block from PROJECT_CONCEPT_ID_START
# up: a hub loading FinOMOP vocabularies next to the Taiwan local ones must
# never see two concepts with one id.
LOCAL_CONCEPT_ID_START = 2_000_000_000
PROJECT_CONCEPT_ID_START = 2_100_000_000
LOCAL_BLOCK_SIZE = 100_000
# One block of 100,000 ids per project-local vocabulary (first id of each block)
LOCAL_VOCABULARY_BLOCKS = {
    "Crossbridge": LOCAL_CONCEPT_ID_START,
    "NHI Drug": PROJECT_CONCEPT_ID_START,
    "NHI Fee": PROJECT_CONCEPT_ID_START + 100_000,
    "NBCT Specimen": PROJECT_CONCEPT_ID_START + 200_000,
    "FI Biobank Specimen": PROJECT_CONCEPT_ID_START + 1_000_000,  # after the demo stand-in blocks
}
# Languages of CONCEPT_SYNONYM rows (ids as used in OHDSI/Vocabulary-v5.0 scripts)
LANGUAGE_ENGLISH = 4180186
LANGUAGE_CHINESE = 4182948
# Finnish: the language concept FinOMOP's vocabulary builds use for Finnish
# names (public OHDSI/FinOMOP code filtering CONCEPT_SYNONYM on 4181730 and
# listing "4181730 # Finnish language"; 4175777 is Swedish there)
LANGUAGE_FINNISH = 4181730
