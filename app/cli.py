"""The ``carthouse`` command: run the embedded stack, manage appspaces and keys.

Management commands talk to the running stack's AdminService over gRPC (chdb lets only one process
own the data directory), authenticated with the admin token.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf import json_format

from app.lifeline import PARENT_PID_ENV
from carthouse.admin_token import ADMIN_TOKEN_METADATA, OPERATOR_APPSPACE_METADATA, read_admin_token
from carthouse.config import ConfigError, Settings
from carthouse.logs import configure_logging
from carthouse.tenancy.plans import PLANS

if TYPE_CHECKING:
    from app.stack import IngestChecks

log = logging.getLogger("carthouse")


# ---------------------------------------------------------------- run


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """One or more services against an external ClickHouse and Redis (containers, clusters)."""
    from app.stack import running_stack

    if not settings.redis_url:
        print("error: REDIS_URL is required for `carthouse serve` (`carthouse run` starts its own)", file=sys.stderr)
        return 2
    stop = _stop_on_signals()
    with running_stack(settings, settings.redis_url, services=args.services) as stack:
        log.info("serving %s on gRPC %s:%d", ", ".join(stack.services), settings.grpc_host, stack.port)
        stop.wait()
        log.info("shutting down: finishing in-flight requests and flushing writes")
    log.info("stopped cleanly")
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Create the database and apply pending migrations, then exit (compose runs this once first)."""
    from carthouse.store import open_store

    store = open_store(settings)
    store.close()
    log.info("database %s is up to date", settings.database)
    return 0


def cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when the gRPC server answers SERVING (for container healthchecks)."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(args.grpc) as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=args.service), timeout=3
        )
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    print(status)
    return 0 if response.status == health_pb2.HealthCheckResponse.SERVING else 1


def cmd_gateway(args: argparse.Namespace, settings: Settings) -> int:
    """The REST gateway alone, in front of CARTHOUSE_UPSTREAM (default: the local gRPC port)."""
    if not settings.redis_url:
        print("error: REDIS_URL is required for `carthouse gateway` (rate limits live in Redis)", file=sys.stderr)
        return 2
    run_gateway(settings, settings.redis_url)
    return 0


def run_gateway(settings: Settings, redis_url: str) -> None:
    """Serve until SIGINT/SIGTERM (or, started by `carthouse run`, until that process is gone); uvicorn lets
    in-flight requests finish before it exits."""
    from app.lifeline import follow_parent_from_env
    from app.startup import freeze_loaded_objects
    from gateway.server import build_gateway, gateway_server

    server = gateway_server(build_gateway(settings, redis_url), settings.http_host, settings.http_port,
                            settings.log_level.lower())
    follow_parent_from_env(lambda: setattr(server, "should_exit", True))
    freeze_loaded_objects()
    server.run()


def cmd_openapi(args: argparse.Namespace, settings: Settings) -> int:
    """Print the OpenAPI 3 document the gateway serves at /openapi.json."""
    from gateway.descriptors import ApiDescriptors
    from gateway.openapi import openapi_document

    api = ApiDescriptors(Path(settings.descriptor_set)) if settings.descriptor_set else ApiDescriptors()
    print(json.dumps(openapi_document(api), indent=2))
    return 0


def _start_gateway(settings: Settings, redis_url: str, grpc_port: int) -> subprocess.Popen[bytes]:
    """The gateway runs in its own process: transcoding must not share a GIL with ingest."""
    env = {**os.environ, "REDIS_URL": redis_url, "CARTHOUSE_UPSTREAM": f"127.0.0.1:{grpc_port}",
           "CARTHOUSE_HTTP_PORT": str(settings.http_port), "CARTHOUSE_HTTP_HOST": settings.http_host,
           PARENT_PID_ENV: str(os.getpid())}
    return subprocess.Popen([sys.executable, "-m", "app.cli", "gateway"], env=env)


def _stop_process(process: subprocess.Popen[bytes], name: str) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            log.error("%s did not stop in 30 s; killing it", name)
            process.kill()


def cmd_run(args: argparse.Namespace, settings: Settings, checks: IngestChecks | None = None) -> int:
    """Redis (unless REDIS_URL is set), every service, and the REST gateway in its own process, until a signal.
    ``checks`` replaces what ingest runs on each event (only a benchmark measuring their cost passes it)."""
    from app.redis_server import RedisServer
    from app.stack import IngestChecks, running_stack
    from app.startup import freeze_loaded_objects

    stop = _stop_on_signals()
    redis = None
    redis_url = settings.redis_url
    if not redis_url:
        redis = RedisServer(Path(settings.data_dir) / "redis", port=args.redis_port).start()
        redis_url = redis.url
        if redis.adopted:
            log.warning("took over the redis-server a killed stack left running on %s (data in %s)", redis_url,
                        redis.workdir)
        else:
            log.info("started redis-server on %s (data in %s)", redis_url, redis.workdir)
    try:
        backend = settings.clickhouse_url or f"chdb at {settings.data_dir.resolve()}"
        log.info("opening store: %s, database %s", backend, settings.database)
        with running_stack(settings, redis_url, checks=checks or IngestChecks()) as stack:
            gateway = _start_gateway(settings, redis_url, stack.port)
            freeze_loaded_objects()
            try:
                log.info("Carthouse is up: REST on http://%s:%d, gRPC on %s:%d. Ctrl-C stops it.",
                         settings.http_host, settings.http_port, settings.grpc_host, stack.port)
                while not stop.wait(1.0):
                    if gateway.poll() is not None:
                        log.error("the REST gateway exited (code %s); stopping", gateway.returncode)
                        break
                log.info("shutting down: finishing in-flight requests and flushing writes")
            finally:
                _stop_process(gateway, "the REST gateway")
    finally:
        if redis is not None:
            redis.stop()
    log.info("stopped cleanly")
    return 0


# ---------------------------------------------------------------- admin calls


def _admin_stub(settings: Settings, target: str) -> tuple[Any, list[tuple[str, str]]]:
    from carthouse.v1 import admin_pb2_grpc

    channel = grpc.insecure_channel(target)
    return admin_pb2_grpc.AdminServiceStub(channel), [(ADMIN_TOKEN_METADATA, read_admin_token(settings))]


def _print(message: Any, args: argparse.Namespace, human: Callable[[dict[str, Any]], str]) -> None:
    data = json_format.MessageToDict(message, preserving_proto_field_name=True)
    print(json.dumps(data, indent=2) if args.json else human(data))


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    if not rows:
        return "(none)"
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def cmd_appspace_create(args: argparse.Namespace, settings: Settings) -> int:
    from carthouse.v1 import admin_pb2

    stub, metadata = _admin_stub(settings, args.grpc)
    response = stub.CreateAppspace(
        admin_pb2.CreateAppspaceRequest(
            name=args.name, plan=args.plan, base_currency=args.base_currency, timezone=args.timezone
        ),
        metadata=metadata,
        timeout=30,
    )
    if args.json:
        print(json.dumps({
            "appspace_id": response.appspace.appspace_id,
            "publishable_key": response.publishable_key,
            "secret_key": response.secret_key,
        }, indent=2))
    else:
        print(f"appspace {response.appspace.appspace_id} ({response.appspace.name}, plan {response.appspace.plan}, "
              f"{response.appspace.base_currency}, {response.appspace.timezone})")
        print(f"publishable key: {response.publishable_key}")
        print(f"secret key:      {response.secret_key}")
        print("Keys are shown once; store them now.")
    return 0


def cmd_appspace_set(args: argparse.Namespace, settings: Settings) -> int:
    from carthouse.v1 import admin_pb2

    stub, metadata = _admin_stub(settings, args.grpc)
    request = admin_pb2.UpdateAppspaceRequest(appspace_id=args.appspace_id)
    for field in ("name", "plan", "base_currency", "timezone"):
        value = getattr(args, field)
        if value is not None:
            setattr(request, field, value)
    for assignment in args.fraud or ():
        key, sep, value = assignment.partition("=")
        if not sep:
            print(f"error: --fraud takes KEY=VALUE, got {assignment!r}", file=sys.stderr)
            return 2
        request.fraud_settings[key.strip()] = value
    response = stub.UpdateAppspace(request, metadata=metadata, timeout=30)
    _print(response, args, lambda d: "updated: " + ", ".join(f"{k}={v}" for k, v in d["appspace"].items()))
    return 0


def cmd_appspace_list(args: argparse.Namespace, settings: Settings) -> int:
    from carthouse.v1 import admin_pb2

    stub, metadata = _admin_stub(settings, args.grpc)
    response = stub.ListAppspaces(admin_pb2.ListAppspacesRequest(), metadata=metadata, timeout=30)
    _print(response, args, lambda d: _table(
        d.get("appspaces", []), ["appspace_id", "name", "plan", "base_currency", "timezone", "created_at"]))
    return 0


def cmd_key_create(args: argparse.Namespace, settings: Settings) -> int:
    from carthouse.v1 import admin_pb2

    stub, metadata = _admin_stub(settings, args.grpc)
    response = stub.CreateKey(
        admin_pb2.CreateKeyRequest(appspace_id=args.appspace, kind=args.kind), metadata=metadata, timeout=30
    )
    _print(response, args, lambda d: f"{d['key']['kind']} key {d['key']['key_id']}: {d['api_key']}\n"
                                     "The key is shown once; store it now.")
    return 0


def cmd_key_list(args: argparse.Namespace, settings: Settings) -> int:
    from carthouse.v1 import admin_pb2

    stub, metadata = _admin_stub(settings, args.grpc)
    response = stub.ListKeys(admin_pb2.ListKeysRequest(appspace_id=args.appspace), metadata=metadata, timeout=30)
    _print(response, args, lambda d: _table(d.get("keys", []), ["key_id", "kind", "created_at", "revoked_at"]))
    return 0


def cmd_key_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from carthouse.v1 import admin_pb2

    stub, metadata = _admin_stub(settings, args.grpc)
    response = stub.RevokeKey(admin_pb2.RevokeKeyRequest(key_id=args.key_id), metadata=metadata, timeout=30)
    _print(response, args, lambda d: f"revoked key {d['key']['key_id']} at {d['key']['revoked_at']}")
    return 0


def parse_since(text: str, now: datetime) -> datetime:
    """'7d', '24h', '30m' before now, or an ISO date / date-time (UTC unless it has an offset)."""
    units = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
    if text[-1:] in units and text[:-1].isdigit():
        return now - int(text[:-1]) * units[text[-1]]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--since: {text!r} is neither like 7d/24h/30m nor an ISO date") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60}


def parse_duration(text: str) -> int:
    """'30d', '12h', '45m' as seconds."""
    if text[-1:] in DURATION_UNITS and text[:-1].isdigit() and int(text[:-1]) > 0:
        return int(text[:-1]) * DURATION_UNITS[text[-1]]
    raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30d, 12h or 45m")


def cmd_dashboard_share(args: argparse.Namespace, settings: Settings) -> int:
    from carthouse.v1 import admin_pb2

    stub, metadata = _admin_stub(settings, args.grpc)
    response = stub.CreateShareLink(admin_pb2.CreateShareLinkRequest(
        appspace_id=args.appspace, expires_in_seconds=args.expires), metadata=metadata, timeout=30)
    link = f"{args.url.rstrip('/')}/dashboard/share/{response.token}"
    if args.json:
        print(json.dumps({"url": link, "expires_at": response.expires_at, "key_id": response.key_id}))
    else:
        print(f"{link}\nread-only, until {response.expires_at}; end it with: carthouse dashboard revoke {link}")
    return 0


def cmd_dashboard_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from carthouse.v1 import admin_pb2

    stub, metadata = _admin_stub(settings, args.grpc)
    response = stub.RevokeShareLink(admin_pb2.RevokeShareLinkRequest(token=args.link), metadata=metadata, timeout=30)
    if not response.revoked:
        print("no live share link has that token (expired or revoked already)", file=sys.stderr)
        return 1
    print("revoked: the link no longer opens the dashboard, and its key is revoked")
    return 0


def cmd_fraud_list(args: argparse.Namespace, settings: Settings) -> int:
    from carthouse.v1 import analytics_pb2, analytics_pb2_grpc

    stub = analytics_pb2_grpc.AnalyticsServiceStub(grpc.insecure_channel(args.grpc))
    since: datetime = args.since
    metadata = [(ADMIN_TOKEN_METADATA, read_admin_token(settings)), (OPERATOR_APPSPACE_METADATA, args.appspace)]
    # The date range only bounds the scan (a future --since finds nothing through the since filter).
    today = datetime.now(UTC)
    request = analytics_pb2.FraudEventsRequest(
        start=min(since, today).astimezone(UTC).date().isoformat(), end=today.date().isoformat(), tz="UTC",
        since=since.isoformat(), status=args.status, limit=args.limit, page_token=args.page_token,
    )
    response = stub.FraudEvents(request, metadata=metadata, timeout=30)

    def human(data: dict[str, Any]) -> str:
        rows = [{**r, "reasons": ",".join(r.get("reasons", []))} for r in data.get("events", [])]
        text = _table(rows, ["timestamp", "status", "reasons", "event_type", "user_id", "transaction_id",
                             "revenue", "currency", "ip"])
        if data.get("next_page_token"):
            text += f"\n(more: --page-token {data['next_page_token']})"
        return text

    _print(response, args, human)
    return 0


def cmd_deletions_list(args: argparse.Namespace, settings: Settings) -> int:
    from carthouse.v1 import analytics_pb2, analytics_pb2_grpc

    stub = analytics_pb2_grpc.AnalyticsServiceStub(grpc.insecure_channel(args.grpc))
    metadata = [(ADMIN_TOKEN_METADATA, read_admin_token(settings)), (OPERATOR_APPSPACE_METADATA, args.appspace)]
    response = stub.ListDeletions(analytics_pb2.ListDeletionsRequest(), metadata=metadata, timeout=30)
    _print(response, args, lambda d: _table(
        d.get("deletions", []), ["user_id", "status", "requested_at", "completed_at", "rows_removed"]))
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from app.importer import ImportState, rejected_path, run_import, state_path

    source: Path = args.file
    if not source.is_file():
        print(f"no such file: {source}", file=sys.stderr)
        return 2
    metadata = [(ADMIN_TOKEN_METADATA, read_admin_token(settings)), (OPERATOR_APPSPACE_METADATA, args.appspace)]
    started = ImportState.load(state_path(source), args.appspace)
    if started.offset:
        print(f"resuming at line {started.line + 1} ({started.accepted} rows stored before)", file=sys.stderr)
    bar = tqdm(total=source.stat().st_size, initial=started.offset, unit="B", unit_scale=True, disable=args.quiet,
               desc=source.name, dynamic_ncols=True)
    first_line, clock = started.line, time.monotonic()

    def progress(state: ImportState) -> None:
        bar.update(state.offset - bar.n)
        rate = (state.line - first_line) / max(time.monotonic() - clock, 1e-6)
        bar.set_postfix(rows=state.line, rows_s=f"{rate:,.0f}", refused=state.rejected, refresh=False)

    try:
        with grpc.insecure_channel(args.grpc) as channel:
            state = run_import(source, channel, metadata, args.appspace, args.format, progress)
    except grpc.RpcError as exc:
        bar.close()
        print(f"stopped: {exc.details() or exc.code().name}; run the same command again to go on from line "
              f"{ImportState.load(state_path(source), args.appspace).line + 1}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        bar.close()
        print("interrupted; run the same command again to go on where it stopped", file=sys.stderr)
        return 130
    bar.close()
    summary = {"rows": state.line, "stored_or_duplicate": state.accepted, "refused": state.rejected,
               "skipped": state.skipped, "seconds": round(time.monotonic() - clock, 1)}
    if state.rejected:
        summary["refused_rows"] = str(rejected_path(source))
    print(json.dumps(summary) if args.json else "  ".join(f"{k}: {v}" for k, v in summary.items()))
    return 0


# ---------------------------------------------------------------- parser


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="carthouse",
        description="Carthouse: self-hostable ecommerce analytics. `carthouse run` starts the embedded stack; "
        "the other commands manage a running one.",
    )
    parser.add_argument("--grpc", default=settings.grpc_target,
                        help="address of the running stack's gRPC port (default %(default)s)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="start Redis (unless REDIS_URL), the store and every service")
    run.add_argument("--redis-port", type=int, default=None, help="port for the embedded redis-server")
    run.set_defaults(handler=cmd_run)

    serve = commands.add_parser("serve", help="serve chosen services against CLICKHOUSE_URL and REDIS_URL")
    serve.add_argument("services", nargs="+", choices=["ingest", "analytics", "fraud", "fx", "admin"],
                       metavar="SERVICE", help="ingest, analytics, fraud, fx and/or admin")
    serve.set_defaults(handler=cmd_serve)

    gateway_parser = commands.add_parser("gateway", help="serve the REST API in front of CARTHOUSE_UPSTREAM")
    gateway_parser.set_defaults(handler=cmd_gateway)

    openapi_parser = commands.add_parser("openapi", help="print the OpenAPI 3 document of the REST API")
    openapi_parser.set_defaults(handler=cmd_openapi)

    migrate_parser = commands.add_parser("migrate", help="create the database and apply pending migrations")
    migrate_parser.set_defaults(handler=cmd_migrate)

    health_parser = commands.add_parser("health", help="exit 0 when the gRPC server reports SERVING")
    health_parser.add_argument("--service", default="", help="fully qualified service name (default: overall)")
    health_parser.set_defaults(handler=cmd_health)

    appspace = commands.add_parser("appspace", help="create and list appspaces").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    create = appspace.add_parser("create", help="create an appspace with a publishable and a secret key")
    create.add_argument("--name", required=True)
    create.add_argument("--plan", choices=list(PLANS), default="free")
    create.add_argument("--base-currency", default="USD", help="ISO 4217 code (default USD)")
    create.add_argument("--timezone", default="UTC", help="IANA time zone for day boundaries (default UTC)")
    create.add_argument("--json", action="store_true", help="print machine-readable JSON")
    create.set_defaults(handler=cmd_appspace_create)
    update = appspace.add_parser(
        "set", help="change an appspace's name, plan, time zone or fraud settings (changes apply in seconds)")
    update.add_argument("appspace_id")
    update.add_argument("--name")
    update.add_argument("--plan", choices=list(PLANS))
    update.add_argument("--timezone")
    update.add_argument("--base-currency", help="refused: the base currency is fixed at creation")
    update.add_argument("--fraud", action="append", metavar="KEY=VALUE",
                        help="set a fraud setting (repeatable), e.g. allowed_currencies=USD,EUR or "
                        "user_purchases_per_minute=[5,20]; KEY= restores the default (README: Fraud rules)")
    update.add_argument("--json", action="store_true", help="print machine-readable JSON")
    update.set_defaults(handler=cmd_appspace_set)
    listing = appspace.add_parser("list", help="list appspaces")
    listing.add_argument("--json", action="store_true", help="print machine-readable JSON")
    listing.set_defaults(handler=cmd_appspace_list)

    key = commands.add_parser("key", help="create, list and revoke API keys").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    key_create = key.add_parser("create", help="create a key (shown once)")
    key_create.add_argument("--appspace", required=True)
    key_create.add_argument("--kind", choices=["publishable", "secret"], required=True)
    key_create.add_argument("--json", action="store_true", help="print machine-readable JSON")
    key_create.set_defaults(handler=cmd_key_create)
    key_list = key.add_parser("list", help="list an appspace's keys")
    key_list.add_argument("--appspace", required=True)
    key_list.add_argument("--json", action="store_true", help="print machine-readable JSON")
    key_list.set_defaults(handler=cmd_key_list)
    key_revoke = key.add_parser("revoke", help="revoke a key; effective within 5 seconds")
    key_revoke.add_argument("key_id")
    key_revoke.add_argument("--json", action="store_true", help="print machine-readable JSON")
    key_revoke.set_defaults(handler=cmd_key_revoke)

    fraud = commands.add_parser("fraud", help="see what the fraud rules caught").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    fraud_list = fraud.add_parser("list", help="flagged and blocked events of an appspace, newest first")
    fraud_list.add_argument("--appspace", required=True)
    fraud_list.add_argument("--since", default="7d", type=lambda text: parse_since(text, datetime.now(UTC)),
                            help="7d, 24h, 30m or an ISO date/time (default 7d)")
    fraud_list.add_argument("--status", choices=["all", "flagged", "blocked"], default="all")
    fraud_list.add_argument("--limit", type=int, default=100, help="rows per page, 1..1000 (default 100)")
    fraud_list.add_argument("--page-token", default="", help="from the previous page's output")
    fraud_list.add_argument("--json", action="store_true", help="print machine-readable JSON")
    fraud_list.set_defaults(handler=cmd_fraud_list)

    board = commands.add_parser("dashboard", help="read-only share links to the dashboard").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    share = board.add_parser("share", help="make a read-only link to an appspace's dashboard (shown once)")
    share.add_argument("--appspace", required=True)
    share.add_argument("--expires", type=parse_duration, default="30d", help="how long it works: 30d, 12h, 45m "
                       "(default 30d, at most 365d)")
    share.add_argument("--url", default=f"http://{settings.http_host}:{settings.http_port}",
                       help="where people open the dashboard (default: this stack's REST address)")
    share.add_argument("--json", action="store_true", help="print machine-readable JSON")
    share.set_defaults(handler=cmd_dashboard_share)
    revoke = board.add_parser("revoke", help="end a share link (the link or its token)")
    revoke.add_argument("link")
    revoke.set_defaults(handler=cmd_dashboard_revoke)

    importing = commands.add_parser(
        "import", help="import events from an NDJSON file (the batch API's event shape, or a GA4 BigQuery export)",
        description="Send every row of FILE through the ingest pipeline as the appspace's secret key would: "
        "validated, converted, fraud-checked and deduplicated. Progress is kept in FILE.import-state.json (run the "
        "same command again after an interrupt: nothing is stored twice); refused rows go to FILE.rejected.ndjson. "
        "The GA4 mapping is in docs/IMPORT.md.")
    importing.add_argument("file", type=Path, metavar="FILE")
    importing.add_argument("--appspace", required=True)
    importing.add_argument("--format", choices=["ndjson", "ga4"], default="ndjson",
                           help="ndjson: one event a line, as POST /batch takes it (default); ga4: GA4's export")
    importing.add_argument("--quiet", action="store_true", help="no progress bar")
    importing.add_argument("--json", action="store_true", help="print the summary as JSON")
    importing.set_defaults(handler=cmd_import)

    deletion = commands.add_parser("deletions", help="user deletion requests (GDPR) and their status").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    deletion_list = deletion.add_parser("list", help="an appspace's deletion requests, newest first")
    deletion_list.add_argument("--appspace", required=True)
    deletion_list.add_argument("--json", action="store_true", help="print machine-readable JSON")
    deletion_list.set_defaults(handler=cmd_deletions_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    args = build_parser(settings).parse_args(argv)
    configure_logging(settings.log_level)
    try:
        return args.handler(args, settings)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.UNAVAILABLE:
            print(f"error: cannot reach Carthouse at {args.grpc}; is `make run` running?", file=sys.stderr)
        else:
            print(f"error: {exc.details()}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
