"""What a long-running server process does once its modules and services are loaded."""

from __future__ import annotations

import gc


def freeze_loaded_objects() -> None:
    """Keep the objects alive now (modules, classes, protobuf descriptors, the services: ~60 k) out of the garbage
    collector's full passes. Each such pass otherwise walks all of them: 20-50 ms pauses measured in the middle
    of requests (docs/PERFORMANCE.md). What requests allocate later is still collected."""
    gc.collect()
    gc.freeze()
