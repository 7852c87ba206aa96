"""Who may write: publisher API keys with scopes, shared by the gateway and the API.

:mod:`schemas.auth.keys` holds the pure parts (scopes, the principal, the key record,
tokens and digests); :mod:`schemas.auth.ring` the keys as read from Kafka and the one
check both surfaces run (:meth:`KeyRing.authorize`).
"""

from schemas.auth.keys import ApiKey, Principal, Scope, new_key, parse_scopes
from schemas.auth.ring import BOOTSTRAP_ADMIN, BOOTSTRAP_PUBLISH, KeyRing, write_key

__all__ = [
    "BOOTSTRAP_ADMIN",
    "BOOTSTRAP_PUBLISH",
    "ApiKey",
    "KeyRing",
    "Principal",
    "Scope",
    "new_key",
    "parse_scopes",
    "write_key",
]
