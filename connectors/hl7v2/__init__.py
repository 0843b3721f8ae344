"""HL7 v2 inbound: files of ADT and ORU^R01 messages -> pseudonymised message records + quarantine.

Public API::

    batch = read_hl7v2(paths, secret=..., site="taiwan", workers=2, progress=None)
    # batch.messages (records), batch.quarantine (connectors.quarantine schema), batch.counts
    from mappings.fhir_r4.hl7v2 import messages_to_fhir       # the FHIR R4 mapping (pure)
    fhir = messages_to_fhir(batch.messages, site="taiwan")
    batch = batch.with_fhir(fhir.resources, fhir.counts)        # resources by type; merges, resources counted
    write_ndjson(batch.resources, out_dir)                      # {type: path}, <Type>.ndjson sorted by id

The connector stops at records so that connectors do not import mappings (DESIGN.md).

Modules: :mod:`.framing` (separators, MLLP, batch envelopes, BOM), :mod:`.encoding`
(MSH-18), :mod:`.dtm` (HL7 date/times -> FHIR), :mod:`.structure` (hl7apy STRICT check),
:mod:`.identity` (national ids -> pseudonyms), :mod:`.parse` (one message -> record or
rejection, with the quarantine reasons and the order of checks), :mod:`.read` (files,
worker pool, counts), :mod:`.ndjson`.

Speed.  hl7apy builds an object per field, component and subcomponent: ~50-100 messages/s
per core on realistic multi-segment messages; the ``hl7`` package only splits strings and
checks nothing.  Ways measured while building this (cold caches, generated ADT/ORU mix
over versions 2.3-2.8, one core of a shared 2-CPU machine; messages/s, rounded):

===========================================================================  ==========
full ``hl7apy.parser.parse_message`` (tolerant, groups)                        50-95
``parse_segment`` STRICT of every non-Z segment                               50-110
``parse_segment`` STRICT of the mapped segments only                          ~65
  + ``hl7apy.load_library`` memoised                                          ~70
own splitting, hl7apy ``parse_field`` verdict cached per field value          170-300
  + verdicts per component (``^^^value`` probes)                              300-350
  + length-only leaves probed masked (identifiers, control ids, text)        ~440
  + dates/numbers through hl7apy's datatype factory, id checks cached        ~2000  <- chosen
``hl7.parse`` (reference, no checks)                                          ~2100
===========================================================================  ==========

Last ``python -m bench.hl7v2_bench --messages 5000`` (same 5000 messages for all; hl7apy
on the first 300; median of 3; load average 1.8 at the start): ours 1 worker 2172 msg/s,
2 workers 3267 msg/s, ``hl7.parse`` 2120 msg/s, hl7apy ``parse_message`` 93 msg/s,
``parse_segment`` STRICT 110 msg/s -- ours is 1.0x (1 worker) / 1.5x (2 workers) the ``hl7``
package and 23x / 35x full hl7apy.  Per CPU second: ours 2183 (1 worker) and 1818 (2
workers: pickling records back, each worker's own cache), ``hl7`` 2128.  Under heavy
load from other processes 2 workers gained nothing (0.9-1.0x of 1 worker), so ``workers``
defaults to 1.  Feeds with more distinct dates, numbers and free-text lengths than the
generated ones reach fewer cache hits and run slower.

Every non-Z segment is still checked by hl7apy STRICT -- the verdict is provably (and,
in ``tests/unit/connectors/test_hl7v2_structure.py``, differentially tested to be) the
verdict of ``parse_segment(..., STRICT)``; see :mod:`.structure`.
"""

from connectors.hl7v2.framing import RawMessage, SplitFile, split_messages
from connectors.hl7v2.ndjson import write_ndjson
from connectors.hl7v2.parse import REASONS, SUPPORTED_TYPES
from connectors.hl7v2.read import DEFAULT_ZONES, DuplicateSourceName, Hl7v2Batch, ReconciliationError, read_hl7v2
from connectors.hl7v2.structure import SUPPORTED_VERSIONS

__all__ = [
    "DEFAULT_ZONES", "REASONS", "SUPPORTED_TYPES", "SUPPORTED_VERSIONS", "DuplicateSourceName", "Hl7v2Batch",
    "RawMessage", "ReconciliationError", "SplitFile", "read_hl7v2", "split_messages", "write_ndjson",
]
