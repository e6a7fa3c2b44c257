"""A ClickHouse server through clickhouse-driver (native protocol), for compose and clusters."""

from __future__ import annotations

import queue
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

from clickhouse_driver import Client
from clickhouse_driver import errors as ch_errors

from carthouse.store.base import Params, Row, Store, StoreError, StoreUnavailable
from carthouse.store.cluster import QUERY_SETTINGS


def _json_value(value: Any, ch_type: str) -> Any:
    """Match what chdb's JSONEachRow output gives, so both backends hand callers the same types."""
    if isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S.%f")
        return text[:-3] if ch_type.startswith("DateTime64") or "DateTime64" in ch_type else text[:19]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_json_value(v, ch_type) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v, ch_type) for k, v in value.items()}
    return value


class DriverStore(Store):
    """One database on a ClickHouse server; a small pool of native-protocol clients."""

    backend = "clickhouse-driver"

    def __init__(self, url: str, database: str | None = None, pool_size: int = 4, cluster: str = "") -> None:
        """``cluster``: the tables are the cluster form's Distributed ones; every query gets cluster.QUERY_SETTINGS."""
        parsed = urlparse(url)
        super().__init__(database or parsed.path.lstrip("/") or "carthouse", cluster)
        self._url = url
        self._cluster_settings = dict(QUERY_SETTINGS) if cluster else {}
        self._pool: queue.LifoQueue[Client] = queue.LifoQueue()
        self._clients = [self._new_client(parsed) for _ in range(pool_size)]
        for client in self._clients:
            self._pool.put(client)

    def _new_client(self, parsed: Any) -> Client:
        return Client(
            host=parsed.hostname or "localhost",
            port=parsed.port or 9000,
            user=parsed.username or "default",
            password=parsed.password or "",
            database="default",
            connect_timeout=5,
            send_receive_timeout=60,
            settings={"server_side_params": True, "use_numpy": False, **self._cluster_settings},
        )

    @contextmanager
    def _client(self) -> Iterator[Client]:
        client = self._pool.get()
        try:
            yield client
        except (ch_errors.NetworkError, ch_errors.SocketTimeoutError, OSError, EOFError) as exc:
            client.disconnect()
            raise StoreUnavailable(str(exc)) from exc
        except ch_errors.ServerException as exc:
            raise StoreError(str(exc)) from exc
        finally:
            self._pool.put(client)

    def _query(self, sql: str, params: Params) -> list[Row]:
        with self._client() as client:
            rows, columns = client.execute(sql, dict(params), with_column_types=True)
        names = [name for name, _ in columns]
        types = [ch_type for _, ch_type in columns]
        return [
            {name: _json_value(value, ch_type) for name, ch_type, value in zip(names, types, row, strict=True)}
            for row in rows
        ]

    def _execute(self, sql: str, params: Params) -> None:
        with self._client() as client:
            client.execute(sql, dict(params))

    def _insert(self, statement: str, payload: str) -> None:
        # Inline JSONCompactEachRow data is parsed by the server, exactly as chdb parses it.
        with self._client() as client:
            client.execute(f"{statement}\n{payload}")

    def create_database(self) -> None:
        self._execute(f"CREATE DATABASE IF NOT EXISTS {self.database}", {})
        self.use_database()

    def use_database(self) -> None:
        for client in self._clients:
            client.connection.database = self.database
            client.disconnect()

    def drop_database(self) -> None:
        on_cluster = f" ON CLUSTER {self.cluster}" if self.cluster else ""
        self._execute(f"DROP DATABASE IF EXISTS {self.database}{on_cluster} SYNC", {})

    def close(self) -> None:
        for client in self._clients:
            client.disconnect()
