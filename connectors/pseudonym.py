"""Site pseudonyms: keyed HMAC-SHA256 of a validated national identifier.

The raw identifier is replaced in the connector, before anything is written;
only the hex pseudonym travels further.  Work is done once per distinct new
identifier (persons repeat across many claim rows and chunks).
"""

from __future__ import annotations

import hmac

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class MissingSiteSecret(ValueError):
    """The site secret is empty: pseudonyms would be reversible by anyone."""


class Pseudonymiser:
    """Keyed HMAC-SHA256 pseudonyms with a bounded, vectorised cache across batches.

    Known identifiers are looked up with Arrow's hash kernels (``index_in``);
    only identifiers not seen before are hashed (one HMAC per distinct new
    identifier, never per row).  The cache lives in memory only and is cleared
    when it would exceed ``cache_size`` entries.
    """

    def __init__(self, secret: str | bytes, cache_size: int = 2_000_000):
        key = secret.encode() if isinstance(secret, str) else secret
        if not key:
            raise MissingSiteSecret("CROSSBRIDGE_SITE_SECRET is empty; refusing to pseudonymise")
        self._key = key
        self._cache_size = cache_size
        self._raw = pa.array([], pa.string())
        self._keys = pa.array([], pa.string())

    def one(self, raw: str) -> str:
        return hmac.digest(self._key, raw.encode("ascii"), "sha256").hex()

    def _hash(self, uniques: pa.Array) -> pa.Array:
        return pa.array([self.one(u) for u in uniques.to_pylist()], type=pa.string())  # distinct ids only

    def column(self, ids: pa.Array | pa.ChunkedArray) -> pa.Array:
        """Pseudonyms for an Arrow string column (nulls stay null)."""
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        enc = pc.dictionary_encode(ids)
        uniq = enc.dictionary
        pos = pc.index_in(uniq, value_set=self._raw)
        missing = pc.fill_null(pc.is_null(pos), False).to_numpy(zero_copy_only=False)
        if missing.any():
            misses = pc.filter(uniq, pa.array(missing))
            if len(self._raw) + len(misses) > self._cache_size:  # start afresh with this batch
                self._raw, self._keys = pa.array([], pa.string()), pa.array([], pa.string())
                missing[:] = True
                misses = uniq
            start = len(self._raw)
            self._raw = pa.concat_arrays([self._raw, misses])
            self._keys = pa.concat_arrays([self._keys, self._hash(misses)])
            filled = pc.fill_null(pos, 0).to_numpy(zero_copy_only=False).astype(np.int64)
            filled[missing] = start + np.arange(int(missing.sum()))
            pos = pa.array(filled, pa.int64())
        return pc.take(pc.take(self._keys, pos), enc.indices)
