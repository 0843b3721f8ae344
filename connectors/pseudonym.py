"""Site pseudonyms: keyed HMAC-SHA256 of a validated national identifier.

The raw identifier is replaced in the connector, before anything is written;
only the hex pseudonym travels further.  Work is done once per distinct
identifier in a batch (persons repeat across many claim rows), with a bounded
cache across batches.
"""

from __future__ import annotations

import hmac

import pyarrow as pa
import pyarrow.compute as pc


class MissingSiteSecret(ValueError):
    """The site secret is empty: pseudonyms would be reversible by anyone."""


class Pseudonymiser:
    def __init__(self, secret: str | bytes, cache_size: int = 2_000_000):
        key = secret.encode() if isinstance(secret, str) else secret
        if not key:
            raise MissingSiteSecret("CROSSBRIDGE_SITE_SECRET is empty; refusing to pseudonymise")
        self._key = key
        self._cache: dict[str, str] = {}
        self._cache_size = cache_size

    def one(self, raw: str) -> str:
        return hmac.digest(self._key, raw.encode("ascii"), "sha256").hex()

    def column(self, ids: pa.Array | pa.ChunkedArray) -> pa.Array:
        """Pseudonyms for an Arrow string column (nulls stay null)."""
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        enc = pc.dictionary_encode(ids)
        uniques = enc.dictionary.to_pylist()
        cache = self._cache
        if len(cache) + len(uniques) > self._cache_size:
            cache.clear()
        out = []
        for u in uniques:  # distinct identifiers only, not rows
            p = cache.get(u)
            if p is None:
                p = self.one(u)
                cache[u] = p
            out.append(p)
        return pc.take(pa.array(out, type=pa.string()), enc.indices)
