"""One typed settings object, read from the environment once at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


class ConfigError(ValueError):
    """A setting is missing or malformed; raised at start-up, never later."""


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    """Runtime configuration; see the README's configuration table for each variable."""

    data_dir: Path = Path("data")
    clickhouse_url: str = ""
    database: str = "carthouse"
    redis_url: str = ""
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    http_port: int = 8080
    admin_token: str = ""
    log_level: str = "INFO"
    environment: str = "development"
    # Processes that validate and encode events beside the gRPC event loop; 0 runs that work in-process.
    ingest_workers: int = 2
    http_host: str = "127.0.0.1"
    # The gateway's upstream gRPC address (default: this stack's gRPC port).
    upstream: str = ""
    rate_limit_per_min: int = 1000
    # Proxies whose X-Forwarded-For is believed: comma-separated addresses or CIDRs.
    trusted_proxies: str = ""
    # gRPC callers whose x-forwarded-for ingest believes: the gateway (loopback in the embedded mode).
    grpc_trusted_peers: str = "127.0.0.1/32,::1/128"
    descriptor_set: str = ""
    fx_provider: str = "bundled"
    # FxService's gRPC address for ingest; empty means this process's own gRPC port (embedded mode).
    fx_target: str = ""
    # FraudService's gRPC address for ingest; empty means a child process of `carthouse run` (embedded mode).
    fraud_target: str = ""
    oxr_app_id: str = ""
    oxr_base_url: str = ""
    # How long a dashboard sign-in lasts.
    dashboard_session_hours: int = 12
    # Memory for decompressed column blocks of the embedded store (carthouse/store/chdb_backend.py); 0: none.
    chdb_cache_mb: int = 1024
    # A ClickHouse cluster (a name in the servers' remote_servers) to keep the schema on, in cluster form
    # (carthouse/store/cluster.py); needs CLICKHOUSE_URL. Empty: one server, or the embedded store.
    clickhouse_cluster: str = ""

    @property
    def grpc_target(self) -> str:
        return f"{self.grpc_host}:{self.grpc_port}"

    @classmethod
    def from_env(cls) -> Settings:
        settings = cls(
            data_dir=Path(os.environ.get("CARTHOUSE_DATA_DIR", "data")),
            clickhouse_url=os.environ.get("CLICKHOUSE_URL", ""),
            database=os.environ.get("CARTHOUSE_DATABASE", "carthouse"),
            redis_url=os.environ.get("REDIS_URL", ""),
            grpc_host=os.environ.get("CARTHOUSE_GRPC_HOST", "127.0.0.1"),
            grpc_port=_int("CARTHOUSE_GRPC_PORT", 50051),
            http_port=_int("CARTHOUSE_HTTP_PORT", 8080),
            admin_token=os.environ.get("CARTHOUSE_ADMIN_TOKEN", ""),
            log_level=os.environ.get("CARTHOUSE_LOG_LEVEL", "INFO").upper(),
            environment=os.environ.get("CARTHOUSE_ENV", "development"),
            ingest_workers=_int("CARTHOUSE_INGEST_WORKERS", 2),
            http_host=os.environ.get("CARTHOUSE_HTTP_HOST", "127.0.0.1"),
            upstream=os.environ.get("CARTHOUSE_UPSTREAM", ""),
            rate_limit_per_min=_int("CARTHOUSE_RATE_LIMIT_PER_MIN", 1000),
            trusted_proxies=os.environ.get("CARTHOUSE_TRUSTED_PROXIES", ""),
            grpc_trusted_peers=os.environ.get("CARTHOUSE_GRPC_TRUSTED_PEERS", "127.0.0.1/32,::1/128"),
            descriptor_set=os.environ.get("CARTHOUSE_DESCRIPTOR_SET", ""),
            fx_provider=os.environ.get("CARTHOUSE_FX_PROVIDER", "bundled"),
            fx_target=os.environ.get("CARTHOUSE_FX_TARGET", ""),
            fraud_target=os.environ.get("CARTHOUSE_FRAUD_TARGET", ""),
            oxr_app_id=os.environ.get("OXR_APP_ID", ""),
            oxr_base_url=os.environ.get("OXR_BASE_URL", ""),
            chdb_cache_mb=_int("CARTHOUSE_CHDB_CACHE_MB", 1024),
            dashboard_session_hours=_int("CARTHOUSE_DASHBOARD_SESSION_HOURS", 12),
            clickhouse_cluster=os.environ.get("CARTHOUSE_CLICKHOUSE_CLUSTER", ""),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if not self.database.replace("_", "").isalnum():
            raise ConfigError("CARTHOUSE_DATABASE may hold only letters, digits and underscores")
        if self.clickhouse_url and not self.clickhouse_url.startswith("clickhouse://"):
            raise ConfigError("CLICKHOUSE_URL must look like clickhouse://host:9000/db")
        if self.clickhouse_cluster and not self.clickhouse_url:
            raise ConfigError("CARTHOUSE_CLICKHOUSE_CLUSTER needs CLICKHOUSE_URL (a server of that cluster)")
        if self.clickhouse_cluster and not self.clickhouse_cluster.replace("_", "").replace("-", "").isalnum():
            raise ConfigError("CARTHOUSE_CLICKHOUSE_CLUSTER may hold only letters, digits, '-' and '_'")
        if self.rate_limit_per_min < 1:
            raise ConfigError("CARTHOUSE_RATE_LIMIT_PER_MIN must be at least 1")
        if not 0 <= self.ingest_workers <= 64:
            raise ConfigError("CARTHOUSE_INGEST_WORKERS must be between 0 and 64")
        if not 1 <= self.dashboard_session_hours <= 24 * 90:
            raise ConfigError("CARTHOUSE_DASHBOARD_SESSION_HOURS must be between 1 and 2160")
        if self.chdb_cache_mb < 0:
            raise ConfigError("CARTHOUSE_CHDB_CACHE_MB must be 0 (no cache) or more")
        if self.environment == "production" and self.admin_token in ("", "changeme"):
            raise ConfigError("CARTHOUSE_ADMIN_TOKEN must be set to a real secret in production")
