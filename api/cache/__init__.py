"""The API's caches: L1 in-process ▸ L2 Redis ▸ PostgreSQL, kept fresh by invalidation events.

- :class:`TieredCache` -- ``get_or_load`` (single-flight), ``evict``,
  ``apply_invalidation``, the data ``generation``, ``stats()``, ``redis_healthy``;
- :class:`InvalidationListener` -- every instance consumes every event (no group);
- codecs for L2: :class:`JsonCodec`, :class:`NumpyCodec`.
"""

from api.cache.codecs import Codec, CodecError, JsonCodec, NumpyCodec
from api.cache.listener import InvalidationListener
from api.cache.stats import CacheStats, KindCounters
from api.cache.tiered import POSTING, TieredCache

__all__ = [
    "POSTING",
    "CacheStats",
    "Codec",
    "CodecError",
    "InvalidationListener",
    "JsonCodec",
    "KindCounters",
    "NumpyCodec",
    "TieredCache",
]
