"""Read HL7 v2 files into message records + quarantine + counts, in this process or in a worker pool.

Each file is read whole when reached and split into messages (:mod:`connectors.hl7v2.framing`);
the messages are parsed (:mod:`connectors.hl7v2.parse`) in chunks of :data:`CHUNK` messages,
in this process (``workers`` <= 1) or by that many worker processes (forked where the
platform allows it, after this process has parsed the first chunk: forked workers inherit
its cached hl7apy verdicts), with at most :data:`IN_FLIGHT_PER_WORKER` chunks per worker queued
(chunks of the next file are queued while the last ones of a file are parsed).  Results
are collected in file and message order whatever the number of workers, and pseudonyms are a deterministic function of the secret, so the
output is the same for any ``workers``.

Every message ends as a record or as one quarantine row (``file_type='hl7v2'``,
``row_number`` = the message's 1-based position in its file); :class:`ReconciliationError`
is raised if the two do not add up to the messages read (a bug, never data).
"""

from __future__ import annotations

import multiprocessing
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa

from connectors.hl7v2 import identity, structure
from connectors.hl7v2.framing import RawMessage, split_messages
from connectors.hl7v2.parse import ParseContext, Rejection, parse_raw_message
from connectors.pseudonym import Pseudonymiser
from connectors.quarantine import empty_quarantine, quarantine_table
from terminology.fhir_profiles import UnknownSite

__all__ = [
    "CHUNK", "DEFAULT_ZONES", "DuplicateSourceName", "Hl7v2Batch", "ReconciliationError", "clear_caches", "read_hl7v2",
]

FILE_TYPE = "hl7v2"
CHUNK = 64
IN_FLIGHT_PER_WORKER = 4
#: zone of date/times that carry no offset (neither the value nor MSH-7): the site's, UTC without a site
DEFAULT_ZONES: dict[str | None, str] = {"taiwan": "Asia/Taipei", "finland": "Europe/Helsinki", None: "UTC"}
Progress = Callable[[int], None]


class DuplicateSourceName(ValueError):
    """Two input files share a name (in different folders): their quarantine rows would be confused."""


class ReconciliationError(RuntimeError):
    """Messages were lost or double-counted between splitting and parsing (a bug, never data)."""


@dataclass
class Hl7v2Batch:
    """Result of :func:`read_hl7v2`.

    ``messages``: mapped message records (see :mod:`connectors.hl7v2.parse`), in file and
    message order; ``quarantine``: one row per refused message; ``counts``: see
    :func:`read_hl7v2`; ``resources``: FHIR resources by type, filled by :meth:`with_fhir`
    from ``mappings.fhir_r4.hl7v2.messages_to_fhir`` (connectors do not import mappings).
    """

    messages: list[dict]
    quarantine: pa.Table
    counts: dict
    resources: dict[str, list[dict]] = field(default_factory=dict)

    def with_fhir(self, resources: dict[str, list[dict]], mapping_counts: dict) -> Hl7v2Batch:
        """The batch with its FHIR resources and the mapping's counts (merges, resources per type) added."""
        return replace(self, resources=resources, counts={**self.counts, **mapping_counts})


def clear_caches() -> None:
    """Forget this process's cached hl7apy verdicts and identifier checks (for benchmarks of a cold start)."""
    structure.clear_cache()
    identity.clear_cache()


# -- worker side ---------------------------------------------------------------------

_worker: dict = {}


def _init_worker(secret: str, site: str | None, zone: str) -> None:
    _worker["ctx"] = ParseContext(Pseudonymiser(secret), site, ZoneInfo(zone))


def _parse_chunk(source_file: str, bom: str | None, chunk: list[RawMessage]) -> list[dict | Rejection]:
    ctx = _worker["ctx"]
    ctx.source_file, ctx.bom = source_file, bom
    return [parse_raw_message(raw, ctx) for raw in chunk]


def _pool(workers: int, secret: str, site: str | None, zone: str) -> ProcessPoolExecutor:
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                               initargs=(secret, site, zone))


# -- main side -----------------------------------------------------------------------

def _chunks(messages: list[RawMessage]) -> Iterator[list[RawMessage]]:
    for i in range(0, len(messages), CHUNK):
        yield messages[i:i + CHUNK]


def read_hl7v2(paths: Iterable[Path | str], *, secret: str, site: str | None, workers: int = 1,
               progress: Progress | None = None, timezone: str | None = None) -> Hl7v2Batch:
    """Read HL7 v2 files (any mix of separators, MLLP framing, batch envelopes, encodings).

    ``secret``: the site secret (pseudonyms); ``site``: 'taiwan', 'finland' or None (which
    national identifiers ``NI`` means, and the default ``timezone``, an IANA zone name
    for date/times without any offset -- :data:`DEFAULT_ZONES`); ``workers``: parsing
    processes (1 = this process); ``progress(messages_done)`` after every chunk.

    ``counts``: ``files`` {name: {messages_in, mapped, quarantined, envelope_segments, bom}},
    ``messages_in``, ``mapped``, ``quarantined`` {reason: n}, ``quarantined_total``,
    ``by_type`` {'ADT^A01': mapped n}, ``versions``, ``encodings`` {label: mapped n},
    ``assumed_timezone`` (mapped messages with a date/time read in ``timezone``),
    ``reconciled`` (messages_in == mapped + quarantined_total).
    """
    paths = [Path(p) for p in paths]
    names = Counter(p.name for p in paths)
    dup = sorted(n for n, c in names.items() if c > 1)
    if dup:
        raise DuplicateSourceName(f"HL7 v2 input files share a name: {', '.join(dup)}")
    Pseudonymiser(secret)  # refuse an empty secret before reading anything
    if site not in DEFAULT_ZONES:
        raise UnknownSite(f"unknown site {site!r}; known: taiwan, finland (or None)")
    zone = timezone or DEFAULT_ZONES[site]
    ZoneInfo(zone)  # an unknown zone fails here, not in a worker

    messages: list[dict] = []
    quarantine: list[pa.Table] = []
    files: dict[str, dict] = {}
    done = 0
    state: dict[str, dict] = {}

    def jobs() -> Iterator[tuple[str, str | None, list[RawMessage], bool]]:
        """(source, bom, chunk, last chunk of its file) over all files, reading each file when reached."""
        for path in paths:
            split = split_messages(path.read_bytes())
            source = path.name
            state[source] = {"split": split, "rows": [], "mapped": 0}
            chunks = list(_chunks(split.messages)) or [[]]
            for i, chunk in enumerate(chunks):
                yield source, split.bom, chunk, i == len(chunks) - 1

    def collect(source: str, chunk: list[RawMessage], result: list, last: bool) -> None:
        nonlocal done
        st = state[source]
        for raw, out in zip(chunk, result):
            if isinstance(out, Rejection):
                st["rows"].append((raw.index, out.reason, out.column, out.detail))
            else:
                messages.append(out)
                st["mapped"] += 1
        done += len(chunk)
        if progress is not None and chunk:
            progress(done)
        if last:
            split, rows, mapped = st["split"], st["rows"], st["mapped"]
            if mapped + len(rows) != len(split.messages):
                raise ReconciliationError(f"{source}: {len(split.messages)} messages split, {mapped} mapped + "
                                          f"{len(rows)} quarantined")
            if rows:
                quarantine.append(quarantine_table(source, FILE_TYPE, *map(list, zip(*rows))))
            files[source] = {"messages_in": len(split.messages), "mapped": mapped, "quarantined": len(rows),
                             "envelope_segments": split.envelope_segments, "bom": split.bom}
            del state[source]

    if workers <= 1:
        _init_worker(secret, site, zone)
        for source, bom, chunk, last in jobs():
            collect(source, chunk, _parse_chunk(source, bom, chunk), last)
    else:
        # the first chunk is parsed here, so that forked workers start with its cached verdicts
        _init_worker(secret, site, zone)
        pending = jobs()
        first = next(pending, None)
        if first is not None:
            source, bom, chunk, last = first
            collect(source, chunk, _parse_chunk(source, bom, chunk), last)
        with _pool(workers, secret, site, zone) as pool:
            in_flight: deque = deque()
            for source, bom, chunk, last in pending:
                in_flight.append((source, chunk, last, pool.submit(_parse_chunk, source, bom, chunk)))
                while len(in_flight) > IN_FLIGHT_PER_WORKER * workers:  # collected in submission order
                    s_, c_, l_, fut = in_flight.popleft()
                    collect(s_, c_, fut.result(), l_)
            while in_flight:
                s_, c_, l_, fut = in_flight.popleft()
                collect(s_, c_, fut.result(), l_)
    table = pa.concat_tables(quarantine) if quarantine else empty_quarantine()
    return Hl7v2Batch(messages, table, _counts(files, messages, table))


def _counts(files: dict[str, dict], messages: list[dict], quarantine: pa.Table) -> dict:
    reasons = Counter(quarantine.column("reason").to_pylist())  # one row per refused message
    messages_in = sum(f["messages_in"] for f in files.values())
    q_total = quarantine.num_rows
    return {
        "files": files,
        "messages_in": messages_in,
        "mapped": len(messages),
        "quarantined": dict(sorted(reasons.items())),
        "quarantined_total": q_total,
        "by_type": dict(sorted(Counter(f"{m['type']}^{m['trigger']}" for m in messages).items())),
        "versions": dict(sorted(Counter(m["version"] for m in messages).items())),
        "encodings": dict(sorted(Counter(m["encoding"] for m in messages).items())),
        "assumed_timezone": sum(1 for m in messages if m["assumed_zone"]),
        "reconciled": messages_in == len(messages) + q_total,
    }
