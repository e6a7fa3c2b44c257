"""Creating appspaces and managing their keys."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from carthouse.errors import FailedPrecondition, InvalidArgument, NotFound
from carthouse.money import is_currency_code
from carthouse.tenancy.fraud_settings import parse_setting
from carthouse.tenancy.keys import KINDS, generate_key, hash_key, new_appspace_id
from carthouse.tenancy.plans import PLANS
from carthouse.tenancy.repository import Appspace, KeyRecord, TenancyRepository
from carthouse.timezones import find_zone


@dataclass(frozen=True)
class NewKey:
    record: KeyRecord
    api_key: str


@dataclass(frozen=True)
class NewAppspace:
    appspace: Appspace
    publishable: NewKey
    secret: NewKey


def _check_timezone(name: str) -> None:
    if find_zone(name) is None:
        raise InvalidArgument(f"Unknown timezone: {name}")


def _with_fraud_settings(settings: dict[str, Any], changes: dict[str, str]) -> dict[str, Any]:
    """The appspace's settings with fraud overrides changed (validated); an empty value drops the override."""
    fraud = dict(settings.get("fraud", {}))
    for key, text in changes.items():
        if text.strip():
            try:
                fraud[key] = parse_setting(key, text)
            except ValueError as exc:
                raise InvalidArgument(str(exc)) from None
        else:
            fraud.pop(key, None)
    return {**settings, "fraud": fraud} if fraud else {k: v for k, v in settings.items() if k != "fraud"}


class AppspaceAdmin:
    def __init__(self, repository: TenancyRepository) -> None:
        self._repo = repository

    def create_appspace(self, name: str, plan: str, base_currency: str, timezone: str) -> NewAppspace:
        name = name.strip()
        plan = plan or "free"
        base_currency = (base_currency or "USD").upper()
        timezone = timezone or "UTC"
        if not name:
            raise InvalidArgument("name is required")
        if plan not in PLANS:
            raise InvalidArgument(f"plan must be one of {', '.join(PLANS)}")
        if not is_currency_code(base_currency):
            raise InvalidArgument(f"Invalid currency: {base_currency}")
        _check_timezone(timezone)
        appspace = Appspace(
            appspace_id=new_appspace_id(),
            name=name,
            plan_name=plan,
            base_currency=base_currency,
            timezone=timezone,
            created_at="",
        )
        self._repo.insert_appspace(appspace)
        stored = self._repo.get_appspace(appspace.appspace_id)
        assert stored is not None
        return NewAppspace(
            appspace=stored,
            publishable=self.create_key(stored.appspace_id, "publishable"),
            secret=self.create_key(stored.appspace_id, "secret"),
        )

    def update_appspace(
        self,
        appspace_id: str,
        name: str | None = None,
        plan: str | None = None,
        base_currency: str | None = None,
        timezone: str | None = None,
        fraud_settings: dict[str, str] | None = None,
    ) -> Appspace:
        current = self._existing(appspace_id)
        if base_currency is not None and base_currency.upper() != current.base_currency:
            raise FailedPrecondition(
                f"The base currency cannot be changed after creation: this appspace's revenue is stored in "
                f"{current.base_currency}"
            )
        if plan is not None and plan not in PLANS:
            raise InvalidArgument(f"plan must be one of {', '.join(PLANS)}")
        if timezone is not None:
            _check_timezone(timezone)
        if name is not None and not name.strip():
            raise InvalidArgument("name is required")
        updated = replace(
            current,
            name=name.strip() if name is not None else current.name,
            plan_name=plan or current.plan_name,
            timezone=timezone or current.timezone,
            settings=_with_fraud_settings(current.settings, fraud_settings or {}),
        )
        self._repo.insert_appspace(updated)
        stored = self._repo.get_appspace(appspace_id)
        assert stored is not None
        return stored

    def list_appspaces(self) -> list[Appspace]:
        return self._repo.list_appspaces()

    def create_key(self, appspace_id: str, kind: str) -> NewKey:
        if kind not in KINDS.values():
            raise InvalidArgument("kind must be publishable or secret")
        self._existing(appspace_id)
        api_key, key_id = generate_key(kind)
        record = self._repo.insert_key(appspace_id, key_id, kind, hash_key(api_key))
        return NewKey(record=record, api_key=api_key)

    def list_keys(self, appspace_id: str) -> list[KeyRecord]:
        self._existing(appspace_id)
        return self._repo.list_keys(appspace_id)

    def revoke_key(self, key_id: str) -> KeyRecord:
        key = self._repo.get_key(key_id)
        if key is None:
            raise NotFound(f"Key not found: {key_id}")
        return key if key.revoked_at else self._repo.revoke_key(key)

    def _existing(self, appspace_id: str) -> Appspace:
        appspace = self._repo.get_appspace(appspace_id)
        if appspace is None:
            raise NotFound(f"Appspace not found: {appspace_id}")
        return appspace
