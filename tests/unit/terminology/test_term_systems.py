"""Code-system registry: names, aliases and FHIR URIs resolve to one vocabulary id, and back."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from terminology.errors import UnknownCodeSystem
from terminology.systems import (
    PROJECT_URN, SYSTEMS, code_system, resolve_system, site_vocabularies, system_uri, vocabulary_for_uri,
)


@pytest.mark.parametrize("name, vocabulary_id", [
    ("ICD-10-CM-TW", "ICD10CM"), ("icd10cm", "ICD10CM"),
    ("https://twcore.mohw.gov.tw/ig/twcore/CodeSystem/icd-10-cm-2014-tw", "ICD10CM"),
    ("https://twcore.mohw.gov.tw/ig/twcore/CodeSystem/icd-10-cm-2023-tw", "ICD10CM"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "ICD10CM"),
    ("urn:oid:1.2.246.537.6.1", "ICD10fi"), ("icd-10-fi", "ICD10fi"), ("ICD10FI", "ICD10fi"),
    ("urn:oid:1.2.246.537.6.2", "NCSPfi"), ("ncsp-f", "NCSPfi"),
    ("ICPC-2", "ICPC"), ("medication-nhi-tw", "NHI Drug"), ("nhi drug", "NHI Drug"),
    ("http://snomed.info/sct", "SNOMED"), ("http://www.whocc.no/atc", "ATC"), ("RxNorm", "RxNorm"),
    ("urn:crossbridge:vocabulary:NHI%20Fee", "NHI Fee"),
])
def test_resolve(name, vocabulary_id):
    assert resolve_system(name) == vocabulary_id


def test_unknown_system_lists_known():
    with pytest.raises(UnknownCodeSystem) as err:
        resolve_system("ICD-11")
    assert "'ICD-11'" in str(err.value) and "ICD10fi" in str(err.value)


def test_known_vocabularies_restrict_and_extend():
    # a registry system the store does not hold is an error naming what it holds
    with pytest.raises(UnknownCodeSystem, match="known: ICD10fi, LocalLab"):
        resolve_system("snomed", ["ICD10fi", "LocalLab"])
    # a store vocabulary not in the registry resolves by its own id, case-insensitively
    assert resolve_system("locallab", ["ICD10fi", "LocalLab"]) == "LocalLab"
    assert vocabulary_for_uri(system_uri("LocalLab")) == "LocalLab"
    assert system_uri("LocalLab") == PROJECT_URN + "LocalLab"


def test_every_registry_entry_round_trips_and_is_unique():
    keys = set()
    for s in SYSTEMS:
        assert vocabulary_for_uri(s.uri) == s.vocabulary_id
        assert resolve_system(s.uri) == s.vocabulary_id
        for alias in s.aliases:
            assert resolve_system(alias) == s.vocabulary_id, alias
        assert s.uri not in keys
        keys.add(s.uri)
        assert code_system(s.vocabulary_id) is s
    assert set(site_vocabularies("taiwan")) >= {"ICD10CM", "ICD9CM", "NHI Drug"}
    assert set(site_vocabularies("finland")) >= {"ICD10fi", "ICPC", "VNRfi", "NCSPfi"}


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30))
def test_project_urn_round_trips_any_vocabulary_id(vocabulary_id):
    if vocabulary_id.strip() != vocabulary_id or code_system(vocabulary_id) is not None:
        return
    assert vocabulary_for_uri(system_uri(vocabulary_id)) == vocabulary_id
