"""A private Prometheus registry with the process series every process exports.

The gateway uses prometheus_client's default registry, which carries ``process_*``
(CPU, memory, file descriptors), ``python_info`` and ``python_gc_*`` on its own; the API
and the workers keep private registries (two in one test process never clash), so they
register the same three collectors here -- one definition for both.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)


def process_registry(*, auto_describe: bool = False) -> CollectorRegistry:
    """A new registry that already exports ``process_*`` and ``python_*``."""
    registry = CollectorRegistry(auto_describe=auto_describe)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry
