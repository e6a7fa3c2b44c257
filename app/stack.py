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

import redis

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
from services.analytics.cart_states import CartStateWorker
from services.analytics.deletions import DeletionWorker
from services.analytics.funnel_reach import FunnelReachWorker
from services.analytics.last_touches import LastTouchWorker
from services.fx import servicer as fx_servicer
from services.fx.converter import FxConverter
from services.fx.rates import rate_provider
from services.fx.storage import RateRepository
from services.ingest import servicer as ingest_servicer
from services.ingest.dedup import Deduplicator
from services.ingest.fraud_check import FraudChecker, FraudClient
from services.ingest.journal import GroupJournal
from services.ingest.pipeline import IngestPipeline
from services.ingest.prepare import RowPreparer
from services.ingest.quota import Quota
from services.ingest.writer import GroupCommitWriter

log = logging.getLogger("carthouse")


SERVICES = ("ingest", "analytics", "fraud", "fx", "admin")


@dataclass(frozen=True)
class IngestChecks:
    """What ingest runs on every event beside validation. A benchmark that measures their cost injects a no-op
    fraud checker and enrich=False here; production always runs both."""

    enrich: bool = True
    # None: FraudClient to FraudService (CARTHOUSE_FRAUD_TARGET, else the stack's child process).
    fraud: FraudChecker | None = None


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


@dataclass(frozen=True)
class _Wiring:
    """Where the stack's services reach each other, known before any of them is built."""

    port: int
    fx_target: str
    fraud_target: str
    admin_token: str


def _ingest_bindings(settings: Settings, wiring: _Wiring, checks: IngestChecks, store: Store,
                     redis_client: redis.Redis, authenticator: Authenticator,
                     resources: ExitStack) -> list[ServiceBinding]:
    """IngestService and ImportService: one pipeline, one writer."""
    writer = GroupCommitWriter(store, Deduplicator(redis_client, store, store.exclusive_slot),
                               GroupJournal.in_data_dir(settings.data_dir)).start()
    resources.callback(writer.stop)
    preparer = RowPreparer(settings.ingest_workers, follow_parent_process)
    resources.callback(preparer.close)
    fraud = checks.fraud if checks.fraud is not None else FraudClient(wiring.fraud_target)
    pipeline = IngestPipeline(preparer, Quota(redis_client), writer, fx_target=wiring.fx_target, fraud=fraud,
                              enrich=checks.enrich)
    trusted = clientip.parse_networks(settings.grpc_trusted_peers)
    return [
        ServiceBinding(ingest_servicer.SERVICE_NAME, ingest_pb2_grpc.add_IngestServiceServicer_to_server,
                       ingest_servicer.IngestServicer(authenticator, pipeline, trusted)),
        ServiceBinding(ingest_servicer.IMPORT_SERVICE_NAME, ingest_pb2_grpc.add_ImportServiceServicer_to_server,
                       ingest_servicer.ImportServicer(authenticator, pipeline, trusted)),
    ]


def _bindings(settings: Settings, services: Sequence[str], wiring: _Wiring, checks: IngestChecks, store: Store,
              redis_url: str, resources: ExitStack) -> list[ServiceBinding]:
    """One binding per requested service; only what a service needs is built."""
    repository = TenancyRepository(store)
    authenticator = Authenticator(repository, admin_token=wiring.admin_token)
    redis_client = redis_server.connect(redis_url)
    bindings = []
    if "ingest" in services:
        bindings += _ingest_bindings(settings, wiring, checks, store, redis_client, authenticator, resources)
    if "analytics" in services:
        # The workers that rewrite stored rows of users never run at once (deletions.py explains why).
        rewrites = threading.Lock()
        deletion_worker = DeletionWorker(store, redis_client, rewrites).start()
        resources.callback(deletion_worker.stop)
        resources.callback(LastTouchWorker(store, rewrites).start().stop)
        if not store.cluster:  # the funnel and the carts read these on one node only (queries/funnel.py, carts.py)
            resources.callback(FunnelReachWorker(store, rewrites).start().stop)
            resources.callback(CartStateWorker(store, rewrites).start().stop)
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
        elif wiring.fraud_target:
            bindings.append(remote_health(wiring.fraud_target))
    if "fx" in services:
        rates = RateRepository(rate_provider(settings.fx_provider, settings.oxr_app_id, settings.oxr_base_url),
                               store, redis_client)
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
                admin_servicer.AdminServicer(AppspaceAdmin(repository), redis_client),
            )
        )
    return bindings


@contextmanager
def running_stack(
    settings: Settings,
    redis_url: str,
    store: Store | None = None,
    port: int | None = None,
    services: Sequence[str] = SERVICES,
    checks: IngestChecks = IngestChecks(),
) -> Iterator[RunningStack]:
    """Start the services on one port (``port`` 0: a free one); on exit stop taking calls, let in-flight ones
    finish, then flush the writer, so nothing acknowledged is lost."""
    services = tuple(services)
    unknown = set(services) - set(SERVICES)
    if unknown:
        raise ValueError(f"unknown services: {', '.join(sorted(unknown))} (known: {', '.join(SERVICES)})")
    with ExitStack() as resources:
        if store is None:
            store = open_store(settings)
            resources.callback(store.close)
        admin_token = ensure_admin_token(settings)
        port = settings.grpc_port if port is None else port
        port = port or redis_server.free_port()
        fraud_target = settings.fraud_target
        if "fraud" in services and services != ("fraud",) and not fraud_target and checks.fraud is None:
            fraud_target = resources.enter_context(fraud_process(redis_url))
        wiring = _Wiring(port=port, fx_target=settings.fx_target or f"127.0.0.1:{port}", fraud_target=fraud_target,
                         admin_token=admin_token)
        bindings = _bindings(settings, services, wiring, checks, store, redis_url, resources)
        bound = resources.enter_context(serve(bindings, settings.grpc_host, port, admin_token))
        yield RunningStack(port=bound, store=store, admin_token=admin_token, services=services,
                           fraud_target=fraud_target)
