"""FHIR R4 mappings: OMOP CDM v5.4 -> FHIR resources (vectorised, DuckDB SQL), HL7 v2 -> FHIR (``hl7v2``).

See :mod:`mappings.fhir_r4.export` for the OMOP -> FHIR Bulk Data export and
``docs/fhir.md`` for the rules per resource.
"""
