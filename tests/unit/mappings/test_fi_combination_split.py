"""Finnish ICD-10 combination codes: the whole code if it maps, else its parts; no row lost to NULL codes."""

from __future__ import annotations

import duckdb
import pytest

from mappings.omop_cdm_v54.codes import register_macros
from mappings.omop_cdm_v54.finland.events import split_combinations_sql

EVENTS = """
SELECT * FROM (VALUES
    ('ICD10fi', 'E113+H360', NULL, 'whole', 'Condition'),
    ('ICD10fi', 'A170+G01', NULL, 'split', 'Condition'),
    ('ICD10fi', 'L270#J01CA04', NULL, 'atc', 'Condition'),
    ('ICD10fi', 'I10', NULL, 'plain', 'Condition')
) AS e(vocabulary_id, raw_code, source_code, event_key, default_domain)
"""


@pytest.fixture(params=[False, True], ids=["clean vocabulary", "vocabulary with a NULL source code"])
def con(request):
    con = duckdb.connect()
    register_macros(con)
    null_row = "UNION ALL SELECT 'ICD10fi', NULL, DATE '1970-01-01', DATE '2099-12-31', 1, 'Condition'" \
        if request.param else ""
    con.execute(f"""CREATE VIEW source_to_standard AS
        SELECT * FROM (VALUES ('ICD10fi', 'E11.3+H36.0', DATE '1970-01-01', DATE '2099-12-31', 4174977, 'Condition'))
            AS t(source_vocabulary_id, source_code, source_valid_start, source_valid_end, target_concept_id,
                 target_domain_id)
        {null_row}""")
    yield con
    con.close()


def test_whole_code_kept_when_mapped_else_parts(con):
    rows = con.execute(
        f"SELECT event_key, vocabulary_id, source_code, raw_code, default_domain FROM ({split_combinations_sql(EVENTS)}) "
    ).fetchall()
    assert sorted(rows) == sorted([
        ("atc|main:L27.0", "ICD10fi", "L27.0", "L270", "Condition"),
        ("atc|atc:J01CA04", "ATC", "J01CA04", "J01CA04", "Drug"),
        ("plain", "ICD10fi", "I10", "I10", "Condition"),
        ("split|cause:A17.0", "ICD10fi", "A17.0", "A170", "Condition"),
        ("split|symptom:G01", "ICD10fi", "G01", "G01", "Condition"),
        ("whole", "ICD10fi", "E11.3+H36.0", "E113+H360", "Condition"),
    ])
