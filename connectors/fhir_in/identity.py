"""Person identity of FHIR resources: identifiers -> site pseudonym (``person_key``), vectorised.

A Patient's identity is its first identifier by this precedence (ties: the
identifier's position):

1. a **national identifier** (system in
   :data:`terminology.fhir_profiles.NATIONAL_ID_SYSTEMS`): trimmed, validated
   (Taiwan ``http://www.moi.gov.tw`` and ``http://www.immigration.gov.tw`` with
   :func:`connectors.taiwan.national_id.valid_mask`, the Finnish
   henkilötunnus ``urn:oid:1.2.246.21`` with
   :func:`connectors.finland.hetu.valid_mask`) and replaced by the site
   pseudonym ``HMAC(secret, id)`` -- the same key the register connectors
   give the same person, so FHIR persons link to register persons.  An
   invalid one quarantines the resource (``invalid_national_id``), whatever
   other identifiers it has.  A temporary henkilötunnus (900-999) is
   accepted and marked ``temporary_id``; a valid henkilötunnus also gives the
   birth date and sex when the Patient lacks them;
2. a **Crossbridge pseudonym** (system ``urn:crossbridge:pseudonym:<site>``):
   already a pseudonym, kept (lower-cased; it must be 64 hex digits, else
   ``invalid_pseudonym``).  With ``site`` given, only that site's pseudonym
   system counts: another site's pseudonym is a foreign identifier (rule 3),
   so two sites' key spaces never merge;
3. any other identifier with a value: ``HMAC(secret, "<system>|<value>")``;
4. no identifier: ``HMAC(secret, "<source file>|<resource key>")``.

References by identifier (``subject.identifier``, or a conditional reference
``Patient?identifier=<system>|<value>``) get their key by rules 1-3, so they
meet the Patient whose identity came from the same identifier.

HMACs are computed once per distinct input (:class:`connectors.pseudonym.Pseudonymiser`,
Arrow hash kernels) over the UTF-8 text; raw identifiers never leave this
module and never appear in a detail message.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connectors.pseudonym import Pseudonymiser
from terminology.fhir_profiles import NATIONAL_ID_SYSTEMS, pseudonym_system

TAIWAN_ID_SYSTEMS = ("http://www.moi.gov.tw", "http://www.immigration.gov.tw")
HETU_SYSTEM = "urn:oid:1.2.246.21"
PSEUDONYM_PREFIX = "urn:crossbridge:pseudonym:"
PSEUDONYM_PATTERN = "^[0-9a-f]{64}$"
#: national identifier system -> the validator that checks it (a test checks every NATIONAL_ID_SYSTEMS entry has one)
VALIDATED_SYSTEMS = {**{s: "taiwan" for s in TAIWAN_ID_SYSTEMS}, HETU_SYSTEM: "hetu"}


class Utf8Pseudonymiser(Pseudonymiser):
    """:class:`Pseudonymiser` hashing the UTF-8 text (identical to it for ASCII input, e.g. national IDs)."""

    def one(self, raw: str) -> str:
        return hmac.digest(self._key, raw.encode("utf-8"), "sha256").hex()


@dataclass
class Identities:
    """Per input row: ``person_key`` (null where refused), how it was made, the refusal, what a hetu states."""

    person_key: pa.Array  # string
    source: pa.Array  # national_id | temporary_id | pseudonym | identifier | resource (null where refused)
    reason: pa.Array  # invalid_national_id | invalid_pseudonym (null where accepted)
    detail: pa.Array  # message naming the system, never the value
    birth_date: pa.Array  # date32, from a valid henkilötunnus
    sex: pa.Array  # 'male' / 'female', from a valid henkilötunnus


def _np(mask) -> np.ndarray:
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False).astype(bool)


def _put(out: pa.Array, mask: np.ndarray, values: pa.Array | pa.Scalar) -> pa.Array:
    """``out`` with the rows of ``mask`` replaced by ``values`` (an array of mask.sum() values, or a scalar)."""
    if not mask.any():
        return out
    if isinstance(values, pa.Scalar):
        values = pa.repeat(values, int(mask.sum()))
    return pc.replace_with_mask(out, pa.array(mask), values.cast(out.type))


def _take(arr: pa.Array, mask: np.ndarray) -> pa.Array:
    return arr.filter(pa.array(mask))


def choose_kind(system: pa.Array, value: pa.Array, site: str | None) -> np.ndarray:
    """Per row the identity rule (1-4 of the module docstring) that applies to (system, value)."""
    sys = pc.utf8_trim_whitespace(system)
    has_value = _np(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(value)), 0))
    national = _np(pc.is_in(sys, pa.array(NATIONAL_ID_SYSTEMS))) & has_value
    own = pc.equal(sys, pseudonym_system(site)) if site else pc.starts_with(sys, PSEUDONYM_PREFIX)
    pseudo = _np(own) & has_value & ~national
    kind = np.full(len(system), 4, dtype=np.int8)
    kind[has_value] = 3
    kind[pseudo] = 2
    kind[national] = 1
    return kind


def resolve(
    system: pa.Array,
    value: pa.Array,
    fallback: pa.Array,
    keys: Pseudonymiser,
    site: str | None = None,
) -> Identities:
    """Identities of rows given their chosen identifier (system, value; nulls if none) and fallback text.

    ``fallback`` ("<source file>|<resource key>") is used where there is no
    identifier value; where it is null too, the row gets no key and no reason.
    """
    from connectors.finland import hetu
    from connectors.taiwan.national_id import valid_mask as taiwan_valid_mask

    n = len(system)
    system = system.cast(pa.string())
    sys = pc.utf8_trim_whitespace(system)
    val = pc.utf8_trim_whitespace(value.cast(pa.string()))
    fallback = fallback.cast(pa.string())
    kind = choose_kind(system, value, site)
    key = pa.nulls(n, pa.string())
    source = pa.nulls(n, pa.string())
    reason = pa.nulls(n, pa.string())
    detail = pa.nulls(n, pa.string())
    birth = pa.nulls(n, pa.date32())
    sex = pa.nulls(n, pa.string())

    # 1. national identifiers
    is_tw = (kind == 1) & _np(pc.is_in(sys, pa.array(TAIWAN_ID_SYSTEMS)))
    is_fi = (kind == 1) & _np(pc.equal(sys, HETU_SYSTEM))
    ok = np.zeros(n, dtype=bool)
    temporary = np.zeros(n, dtype=bool)
    if is_tw.any():
        ok[is_tw] = taiwan_valid_mask(_take(val, is_tw))
    if is_fi.any():
        fi_vals = _take(val, is_fi)
        ok[is_fi] = hetu.valid_mask(fi_vals)
        temporary[is_fi] = hetu.temporary_mask(fi_vals)
        birth = _put(birth, is_fi, hetu.birth_dates(fi_vals))
        sex = _put(sex, is_fi, pc.if_else(pc.equal(hetu.sex_codes(fi_vals), "1"), "male", "female"))
    good = (kind == 1) & ok
    bad = (kind == 1) & ~ok
    key = _put(key, good, keys.column(_take(val, good)))
    source = _put(source, good & ~temporary, pa.scalar("national_id"))
    source = _put(source, good & temporary, pa.scalar("temporary_id"))
    if bad.any():
        reason = _put(reason, bad, pa.scalar("invalid_national_id"))
        detail = _put(detail, bad, pc.binary_join_element_wise(
            "identifier of system ", _take(sys, bad), " fails the format or check-character rule", ""))

    # 2. Crossbridge pseudonyms, kept
    is_pseudo = kind == 2
    if is_pseudo.any():
        low = pc.utf8_lower(_take(val, is_pseudo))
        well = _np(pc.match_substring_regex(low, PSEUDONYM_PATTERN))
        keep, refuse = is_pseudo.copy(), is_pseudo.copy()
        keep[is_pseudo] = well
        refuse[is_pseudo] = ~well
        key = _put(key, keep, low.filter(pa.array(well)))
        source = _put(source, keep, pa.scalar("pseudonym"))
        reason = _put(reason, refuse, pa.scalar("invalid_pseudonym"))
        detail = _put(detail, refuse, pc.binary_join_element_wise(
            "identifier of system ", _take(sys, refuse), " is not a pseudonym (64 hexadecimal digits)", ""))

    # 3. other identifiers: HMAC of "system|value"
    is_ident = kind == 3
    if is_ident.any():
        text = pc.binary_join_element_wise(pc.fill_null(_take(sys, is_ident), ""), _take(val, is_ident), "|")
        key = _put(key, is_ident, keys.column(text))
        source = _put(source, is_ident, pa.scalar("identifier"))

    # 4. no identifier: HMAC of the fallback text
    is_res = (kind == 4) & _np(pc.is_valid(fallback))
    if is_res.any():
        key = _put(key, is_res, keys.column(_take(fallback, is_res)))
        source = _put(source, is_res, pa.scalar("resource"))
    return Identities(key, source, reason, detail, birth, sex)


def identities_table(ids: Identities) -> pa.Table:
    """The identities as an Arrow table (columns person_key, identity_source, reason, detail, hetu_birth, hetu_sex)."""
    return pa.table({
        "person_key": ids.person_key, "identity_source": ids.source, "reason": ids.reason, "detail": ids.detail,
        "hetu_birth": ids.birth_date, "hetu_sex": ids.sex,
    })
