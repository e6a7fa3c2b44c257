"""SQL for the appspaces and api_keys tables (owned here; written by AdminService, read by auth)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from carthouse.clock import utc_now
from carthouse.store import Store
from carthouse.tenancy.plans import PLANS, Plan


def rfc3339(text: str | None) -> str:
    """ClickHouse's '2026-01-15 10:30:00.123' (UTC) as '2026-01-15T10:30:00.123Z'."""
    return f"{text.replace(' ', 'T')}Z" if text else ""


@dataclass(frozen=True)
class Appspace:
    appspace_id: str
    name: str
    plan_name: str
    base_currency: str
    timezone: str
    created_at: str
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def plan(self) -> Plan:
        overrides = {k: self.settings[k] for k in ("retention_days", "monthly_events") if k in self.settings}
        return replace(PLANS[self.plan_name], **overrides)


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    appspace_id: str
    kind: str
    key_hash: str
    created_at: str
    revoked_at: str | None


def _appspace(row: dict[str, Any]) -> Appspace:
    return Appspace(
        appspace_id=row["appspace_id"],
        name=row["name"],
        plan_name=row["plan"],
        base_currency=row["base_currency"],
        timezone=row["timezone"],
        created_at=row["created_at"],
        settings=json.loads(row["settings"] or "{}"),
    )


def _key(row: dict[str, Any]) -> KeyRecord:
    return KeyRecord(
        key_id=row["key_id"],
        appspace_id=row["appspace_id"],
        kind=row["kind"],
        key_hash=row["key_hash"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


class TenancyRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    def insert_appspace(self, appspace: Appspace) -> None:
        """Write a new version of the appspace (creation when ``created_at`` is empty)."""
        now = utc_now()
        self.store.execute(
            "INSERT INTO appspaces (appspace_id, name, plan, base_currency, timezone, settings, created_at,"
            " updated_at) VALUES ({id:String}, {name:String}, {plan:String}, {currency:String}, {tz:String},"
            " {settings:String}, if({created:String} = '', {now:DateTime64(3)},"
            " parseDateTime64BestEffort({created:String}, 3, 'UTC')), {now:DateTime64(3)})",
            {
                "id": appspace.appspace_id,
                "name": appspace.name,
                "plan": appspace.plan_name,
                "currency": appspace.base_currency,
                "tz": appspace.timezone,
                "settings": json.dumps(appspace.settings),
                "created": appspace.created_at,
                "now": now,
            },
        )

    def get_appspace(self, appspace_id: str) -> Appspace | None:
        rows = self.store.query(
            "SELECT * FROM appspaces FINAL WHERE appspace_id = {id:String}", {"id": appspace_id}
        )
        return _appspace(rows[0]) if rows else None

    def list_appspaces(self) -> list[Appspace]:
        return [_appspace(r) for r in self.store.query("SELECT * FROM appspaces FINAL ORDER BY created_at")]

    def insert_key(self, appspace_id: str, key_id: str, kind: str, key_hash: str) -> KeyRecord:
        now = utc_now()
        self.store.execute(
            "INSERT INTO api_keys (appspace_id, key_id, kind, key_hash, created_at, revoked_at, updated_at)"
            " VALUES ({appspace:String}, {key_id:String}, {kind:String}, {hash:String}, {now:DateTime64(3)},"
            " NULL, {now:DateTime64(3)})",
            {"appspace": appspace_id, "key_id": key_id, "kind": kind, "hash": key_hash, "now": now},
        )
        key = self.get_key(key_id)
        assert key is not None
        return key

    def get_key(self, key_id: str) -> KeyRecord | None:
        rows = self.store.query("SELECT * FROM api_keys FINAL WHERE key_id = {key_id:String}", {"key_id": key_id})
        return _key(rows[0]) if rows else None

    def list_keys(self, appspace_id: str) -> list[KeyRecord]:
        rows = self.store.query(
            "SELECT * FROM api_keys FINAL WHERE appspace_id = {appspace:String} ORDER BY created_at",
            {"appspace": appspace_id},
        )
        return [_key(r) for r in rows]

    def revoke_key(self, key: KeyRecord) -> KeyRecord:
        now = utc_now()
        self.store.execute(
            "INSERT INTO api_keys (appspace_id, key_id, kind, key_hash, created_at, revoked_at, updated_at)"
            " VALUES ({appspace:String}, {key_id:String}, {kind:String}, {hash:String},"
            " parseDateTime64BestEffort({created:String}, 3, 'UTC'), {now:DateTime64(3)}, {now:DateTime64(3)})",
            {
                "appspace": key.appspace_id,
                "key_id": key.key_id,
                "kind": key.kind,
                "hash": key.key_hash,
                "created": key.created_at,
                "now": now,
            },
        )
        revoked = self.get_key(key.key_id)
        assert revoked is not None
        return revoked
