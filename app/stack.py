"""The composition root: wires store, Redis and every servicer into one gRPC server.

In the embedded mode the services that use the store share this process (chdb lets one process own the
data directory), each its own gRPC service; FraudService, which needs only Redis, runs in a child process
(app/fraud_process.py). Services reach each other through gRPC stubs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from app import redis_server
from app.fraud_process import fraud_binding, fraud_process, remote_health
from app.lifeline import follow_parent_process
from carthouse import clientip
from carthouse.admin_token import ensure_admin_token
from carthouse.auth import Authenticator
from carthouse.config import Settings
from carthouse.grpc_server import ServiceBinding, serve
from carthouse.store import Store, open_store
from carthouse.tenancy.repository import TenancyRepository
from carthouse.v1 import admin_pb2_grpc, analytics_pb2_grpc, fx_pb2_grpc, ingest_pb2_grpc
from services.admin import servicer as admin_servicer
from services.admin.appspaces import AppspaceAdmin
from services.analytics import servicer as analytics_servicer
from services.analytics.deletions import DeletionWorker
from services.analytics.last_touches import LastTouchWorker
from services.fx import servicer as fx_servicer
from services.fx.converter import FxConverter
from services.fx.rates import rate_provider
from services.fx.storage import RateRepository
from services.ingest import servicer as ingest_servicer
from services.ingest.dedup import Deduplicator
from services.ingest.fraud_check import FRAUD_OFF
from services.ingest.pipeline import IngestPipeline
from services.ingest.prepare import RowPreparer
from services.ingest.quota import Quota
from services.ingest.writer import GroupCommitWriter

log = logging.getLogger("carthouse")


SERVICES = ("ingest", "analytics", "fraud", "fx", "admin")


@dataclass
class RunningStack:
    port: int
    store: Store
    admin_token: str
    services: tuple[str, ...]
    # Where FraudService answers: a child process of this stack, or CARTHOUSE_FRAUD_TARGET.
    fraud_target: str = ""

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


def _bindings(
    services: Sequence[str],
    store: Store,
    redis_url: str,
    resources: ExitStack,
    ingest_workers: int,
    fx_provider: tuple[str, str, str],
    trusted_peers: str,
    admin_token: str,
    fraud_target: str,
) -> tuple[list[ServiceBinding], IngestPipeline | None]:
    """One binding per requested service; only what a service needs is built."""
    repository = TenancyRepository(store)
    authenticator = Authenticator(repository, admin_token=admin_token)
    redis_client = redis_server.connect(redis_url)
    bindings = []
    pipeline = None
    if "ingest" in services:
        writer = GroupCommitWriter(store, Deduplicator(redis_client, store, store.exclusive_slot)).start()
        resources.callback(writer.stop)
        preparer = RowPreparer(ingest_workers, follow_parent_process)
        resources.callback(preparer.close)
        pipeline = IngestPipeline(preparer, Quota(redis_client), writer)
        bindings.append(
            ServiceBinding(
                ingest_servicer.SERVICE_NAME,
                ingest_pb2_grpc.add_IngestServiceServicer_to_server,
                ingest_servicer.IngestServicer(authenticator, pipeline, clientip.parse_networks(trusted_peers)),
            )
        )
    if "analytics" in services:
        # The two workers that rewrite stored rows of users never run at once (deletions.py explains why).
        rewrites = threading.Lock()
        deletion_worker = DeletionWorker(store, redis_client, rewrites).start()
        resources.callback(deletion_worker.stop)
        resources.callback(LastTouchWorker(store, rewrites).start().stop)
        bindings.append(
            ServiceBinding(
                analytics_servicer.SERVICE_NAME,
                analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server,
                analytics_servicer.AnalyticsServicer(authenticator, store, deletions=deletion_worker),
            )
        )
    if "fraud" in services:
        if services == ("fraud",):
            bindings.append(fraud_binding(redis_url))
        elif fraud_target != FRAUD_OFF:
            bindings.append(remote_health(fraud_target))
    if "fx" in services:
        rates = RateRepository(rate_provider(*fx_provider), store, redis_client)
        bindings.append(
            ServiceBinding(
                fx_servicer.SERVICE_NAME,
                fx_pb2_grpc.add_FxServiceServicer_to_server,
                fx_servicer.FxServicer(FxConverter(rates)),
                healthy=lambda: not getattr(rates.provider, "last_error", ""),
            )
        )
    if "admin" in services:
        bindings.append(
            ServiceBinding(
                admin_servicer.SERVICE_NAME,
                admin_pb2_grpc.add_AdminServiceServicer_to_server,
                admin_servicer.AdminServicer(AppspaceAdmin(repository)),
            )
        )
    return bindings, pipeline


@contextmanager
def running_stack(
    settings: Settings,
    redis_url: str,
    store: Store | None = None,
    port: int | None = None,
    services: Sequence[str] = SERVICES,
) -> Iterator[RunningStack]:
    """Start the services on one port; on exit stop taking calls, let in-flight ones finish, then flush the
    writer, so nothing acknowledged is lost."""
    unknown = set(services) - set(SERVICES)
    if unknown:
        raise ValueError(f"unknown services: {', '.join(sorted(unknown))} (known: {', '.join(SERVICES)})")
    with ExitStack() as resources:
        if store is None:
            store = open_store(settings)
            resources.callback(store.close)
        admin_token = ensure_admin_token(settings)
        fraud_target = settings.fraud_target
        if "fraud" in services and tuple(services) != ("fraud",) and not fraud_target:
            fraud_target = resources.enter_context(fraud_process(redis_url))
        bindings, pipeline = _bindings(
            tuple(services),
            store,
            redis_url,
            resources,
            settings.ingest_workers,
            (settings.fx_provider, settings.oxr_app_id, settings.oxr_base_url),
            settings.grpc_trusted_peers,
            admin_token,
            fraud_target,
        )
        bound = resources.enter_context(
            serve(bindings, settings.grpc_host, settings.grpc_port if port is None else port, admin_token)
        )
        if pipeline is not None:
            pipeline.fx_target = settings.fx_target or f"127.0.0.1:{bound}"
            pipeline.fraud.target = fraud_target
            pipeline.enrich = settings.enrichment
        yield RunningStack(port=bound, store=store, admin_token=admin_token, services=tuple(services),
                           fraud_target=fraud_target)
