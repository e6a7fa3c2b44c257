"""Carthouse for Python servers: ``Client(secret_key, endpoint).track("purchase", transaction_id=…, revenue=…)``.

Events are batched and sent by a background thread, retried on network errors, 5xx, 408 and 429, and carry an
event_id so that a retry is never stored twice. docs/SDK.md lists every option.
"""

from carthouse_sdk.client import CarthouseError, Client, Stats
from carthouse_sdk.results import (
    Attribution,
    CartAbandonment,
    Cohort,
    Cohorts,
    Funnel,
    FunnelStep,
    Overview,
    Product,
    TopProducts,
)

__all__ = ["Attribution", "CarthouseError", "CartAbandonment", "Client", "Cohort", "Cohorts", "Funnel",
           "FunnelStep", "Overview", "Product", "Stats", "TopProducts"]
