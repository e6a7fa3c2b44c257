"""24-hour deduplication: purchases/refunds by transaction_id, any event by event_id.

A writer claims each key in Redis atomically (one script per group), so concurrent replicas agree. A claim
names its group (``<writer>:<group>``) rather than just saying "seen": a writer killed between claiming and
inserting leaves claims behind for events that were never stored, and a client's retry must not be taken for
a duplicate of them. A writer records each group as committed after its INSERT (``dedup:committed:<writer>``)
and says it is alive every second (``dedup:writer:<writer>``, expiring after WRITER_TTL_SECONDS; the next holder
of the same embedded data directory retires it at once).

What a group's event is, by what its key holds:

| the key holds                              | claim's writer | claim's group committed | verdict                     |
|--------------------------------------------|----------------|-------------------------|-----------------------------|
| nothing                                    | -              | -                       | FRESH (claimed now)         |
| a claim of this group (the same key twice) | -              | -                       | DUPLICATE (of the first)    |
| a claim of another group of this writer    | this writer    | yes                     | DUPLICATE                   |
| a claim of this writer's failed group      | this writer    | no (release refused)    | ClickHouse decides (*)      |
| another writer's claim                     | alive          | yes                     | DUPLICATE                   |
| another writer's claim                     | alive          | no                      | UNDECIDED (asked again)     |
| another writer's claim                     | gone           | yes                     | DUPLICATE                   |
| another writer's claim                     | gone           | no                      | ClickHouse decides (*)      |
| anything else                              | -              | -                       | ClickHouse decides (*)      |

(*) DUPLICATE if ClickHouse holds the event; else the key is taken over (compare-and-set) and the event is FRESH,
or UNDECIDED if another writer took it over first.

When Redis is unreachable, purchases and refunds are checked against ClickHouse instead, so revenue is never
double counted. Callers run this from the single writer thread, which also makes the fallback race-free in a
process.
"""

from __future__ import annotations

import enum
import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis

from carthouse.logs import Throttled
from carthouse.store import Store
from services.ingest.rows import DEDUP_TTL_SECONDS, StoredEvent
from services.ingest.storage import recent_event_ids, recent_transactions

log = logging.getLogger("carthouse.ingest.dedup")

# A writer not heard of for this long is taken for dead and its uncommitted claims are checked in ClickHouse.
WRITER_TTL_SECONDS = 5
HEARTBEAT_SECONDS = 1.0

# Returns each key's previous value, '' where this call claimed it.
_CLAIM = """
local held = {}
for i, key in ipairs(KEYS) do
  local old = redis.call('GET', key)
  if old then held[i] = old else redis.call('SET', key, ARGV[1], 'EX', ARGV[2]); held[i] = '' end
end
return held
"""
# ARGV: new value, ttl, then the value each key must still hold; returns 1 where the key was taken over.
_TAKE_OVER = """
local taken = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i + 2] then
    redis.call('SET', key, ARGV[1], 'EX', ARGV[2]); taken[i] = 1
  else taken[i] = 0 end
end
return taken
"""
_RELEASE = """
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 0
"""


class Verdict(enum.Enum):
    FRESH = "fresh"  # every key claimed by this group: store it
    DUPLICATE = "duplicate"  # a key belongs to a stored event: acknowledge, do not store
    UNDECIDED = "undecided"  # a key is held by a live writer's group not yet committed: ask again


@dataclass
class Screening:
    verdicts: list[Verdict]
    # Keys this group holds: released if its write fails.
    claimed: list[str] = field(default_factory=list)


def _writer_key(writer: str) -> str:
    return f"dedup:writer:{writer}"


def _committed_key(writer: str) -> str:
    return f"dedup:committed:{writer}"


def _split_claim(value: bytes) -> tuple[str, int] | None:
    writer, _, group = value.decode().rpartition(":")
    return (writer, int(group)) if writer and group.isdigit() else None


class Deduplicator:
    def __init__(self, client: redis.Redis, store: Store, exclusive_slot: str = "") -> None:
        """``exclusive_slot``: an identity only one live process can hold (the embedded engine's data
        directory); whoever held it before this process is dead, so its claims are checked at once instead of
        after WRITER_TTL_SECONDS."""
        self._client = client
        self._store = store
        self._slot = exclusive_slot
        self.writer = uuid.uuid4().hex[:16]
        self._group = 0
        # Keys of failed groups that Redis refused to release: released again by the heartbeat until it can.
        self._unreleased: dict[int, list[str]] = {}
        self._warnings = Throttled(log)
        self._claim = client.register_script(_CLAIM)
        self._take_over = client.register_script(_TAKE_OVER)
        self._release = client.register_script(_RELEASE)
        self._stopping = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, name="dedup-heartbeat", daemon=True)

    def start(self) -> Deduplicator:
        self._announce()
        self._heartbeat.start()
        return self

    def stop(self) -> None:
        """After the writer's last group: a stopped writer holds nothing undecided."""
        self._stopping.set()
        if self._heartbeat.is_alive():
            self._heartbeat.join()
        try:
            self._client.delete(_writer_key(self.writer))
        except redis.RedisError as exc:
            log.warning("could not retire dedup writer %s (it expires by itself): %s", self.writer, exc)

    @property
    def claim_value(self) -> str:
        return f"{self.writer}:{self._group}"

    def screen(self, events: Sequence[StoredEvent]) -> Screening:
        """Decide each event of a new group; the keys of fresh events are claimed for it."""
        self._group += 1
        if not any(event.dedup_keys for event in events):
            return Screening([Verdict.FRESH] * len(events))
        try:
            return self._screen_with_redis(events)
        except redis.RedisError as exc:
            self._warnings.warning(
                "fallback", "Redis unavailable, deduplicating purchases and refunds through ClickHouse: %s", exc)
            return Screening(self._screen_with_store(events))

    def committed(self) -> None:
        """The group's INSERT returned: its claims now mean "stored"."""
        try:
            self._client.set(_committed_key(self.writer), self._group, ex=DEDUP_TTL_SECONDS + 3600)
        except redis.RedisError as exc:
            # Others wait on this writer's claims until a later group's record lands or the writer is gone.
            self._warnings.warning("committed", "could not record group %d as committed: %s", self._group, exc)

    def release(self, keys: Sequence[str]) -> None:
        """The group's write failed: its keys are free again (only where this group still holds them)."""
        if not keys:
            return
        try:
            self._release(keys=list(keys), args=[self.claim_value])
        except redis.RedisError as exc:
            self._unreleased[self._group] = list(keys)
            log.error("could not release %d dedup keys after a failed write (retried every second): %s",
                      len(keys), exc)

    def _screen_with_redis(self, events: Sequence[StoredEvent]) -> Screening:
        keys = [key for event in events for key in event.dedup_keys]
        mine = self.claim_value.encode()
        previous = self._claim(keys=keys, args=[self.claim_value, DEDUP_TTL_SECONDS])
        # Held before this group (an earlier occurrence in the group reads back this group's own value).
        held = {key: value for key, value in zip(keys, previous, strict=True) if value and value != mine}
        try:
            state = self._key_states(events, held) if held else {}
        except Exception:
            # Left in place, this group's claims would read as stored once a later group commits.
            self.release([key for key, value in zip(keys, previous, strict=True) if not value])
            raise
        verdicts: list[Verdict] = []
        taken: set[str] = set()  # keys this group holds, in event order
        asked_again: list[str] = []
        for event in events:
            found = [Verdict.DUPLICATE if key in taken else state.get(key, Verdict.FRESH) for key in event.dedup_keys]
            fresh_keys = [key for key, verdict in zip(event.dedup_keys, found, strict=True) if verdict is Verdict.FRESH]
            if Verdict.DUPLICATE in found:
                verdicts.append(Verdict.DUPLICATE)
            elif Verdict.UNDECIDED in found:
                verdicts.append(Verdict.UNDECIDED)
                # Claimed again when the event is asked again; kept now, they would read as its own duplicate.
                asked_again += fresh_keys
            else:
                verdicts.append(Verdict.FRESH)
            taken.update(fresh_keys)
        if asked_again:
            self._release(keys=asked_again, args=[self.claim_value])
        return Screening(verdicts, list(taken.difference(asked_again)))

    def _key_states(self, events: Sequence[StoredEvent], held: dict[str, bytes]) -> dict[str, Verdict]:
        """What each key held by an earlier group means: DUPLICATE, UNDECIDED, or FRESH once taken over."""
        writers = {claim[0] for value in held.values() if (claim := _split_claim(value)) and claim[0] != self.writer}
        standing = self._standing(sorted(writers))
        state: dict[str, Verdict] = {}
        orphaned: dict[str, bytes] = {}
        for key, value in held.items():
            claim = _split_claim(value)
            if claim is None:  # not a claim this protocol writes: whether the event is stored, ClickHouse knows
                orphaned[key] = value
            elif claim[0] == self.writer:
                # This writer's earlier group: committed, unless it failed and could not release its keys.
                state[key] = Verdict.DUPLICATE
                if claim[1] in self._unreleased:
                    orphaned[key] = value
            else:
                committed, alive = standing[claim[0]]
                state[key] = Verdict.DUPLICATE if claim[1] <= committed else Verdict.UNDECIDED
                if claim[1] > committed and not alive:
                    orphaned[key] = value
        if orphaned:
            state.update(self._adopt(events, orphaned))
        return state

    def _standing(self, writers: list[str]) -> dict[str, tuple[int, bool]]:
        """(last committed group, alive) of each writer."""
        if not writers:
            return {}
        pipe = self._client.pipeline(transaction=False)
        for writer in writers:
            pipe.get(_committed_key(writer))
            pipe.exists(_writer_key(writer))
        answers = pipe.execute()
        return {writer: (int(answers[2 * i] or 0), bool(answers[2 * i + 1])) for i, writer in enumerate(writers)}

    def _adopt(self, events: Sequence[StoredEvent], orphaned: dict[str, bytes]) -> dict[str, Verdict]:
        """Keys a group left without being committed (its writer is gone, or this writer's release failed):
        DUPLICATE if ClickHouse holds the event, else taken over for this group (FRESH); a key someone else
        took over first is UNDECIDED."""
        stored = self._stored_keys(events, set(orphaned))
        state = {key: Verdict.DUPLICATE for key in orphaned if key in stored}
        free = [key for key in orphaned if key not in stored]
        if free:
            taken = self._take_over(keys=free, args=[self.claim_value, DEDUP_TTL_SECONDS,
                                                     *(orphaned[key] for key in free)])
            for key, won in zip(free, taken, strict=True):
                state[key] = Verdict.FRESH if won else Verdict.UNDECIDED
            log.info("took over %d of %d dedup keys left by a stopped writer whose events are not stored",
                     sum(taken), len(free))
        return state

    def _stored_keys(self, events: Sequence[StoredEvent], keys: set[str]) -> set[str]:
        """Which of ``keys`` belong to events ClickHouse received in the last day."""
        asked: dict[str, list[StoredEvent]] = defaultdict(list)
        for event in events:
            if keys.intersection(event.dedup_keys):
                asked[event.appspace_id].append(event)
        stored: set[str] = set()
        for appspace_id, group in asked.items():
            ids = recent_event_ids(self._store, appspace_id, [e.client_event_id for e in group if e.client_event_id])
            transactions = recent_transactions(self._store, appspace_id,
                                               [e.transaction[1] for e in group if e.transaction])
            for event in group:
                # dedup_keys: the transaction's key first, the event_id's last (rows.dedup_keys).
                if event.transaction and event.transaction in transactions:
                    stored.add(event.dedup_keys[0])
                if event.client_event_id in ids:
                    stored.add(event.dedup_keys[-1])
        return stored & keys

    def _screen_with_store(self, events: Sequence[StoredEvent]) -> list[Verdict]:
        by_appspace: dict[str, list[str]] = defaultdict(list)
        for event in events:
            if event.transaction:
                by_appspace[event.appspace_id].append(event.transaction[1])
        seen: set[tuple[str, str, str]] = set()
        for appspace_id, transaction_ids in by_appspace.items():
            for kind, txn in recent_transactions(self._store, appspace_id, transaction_ids):
                seen.add((appspace_id, kind, txn))
        seen_keys: set[str] = set()
        verdicts = []
        for event in events:
            if (event.transaction and (event.appspace_id, *event.transaction) in seen) or \
                    any(key in seen_keys for key in event.dedup_keys):
                verdicts.append(Verdict.DUPLICATE)
                continue
            seen_keys.update(event.dedup_keys)
            verdicts.append(Verdict.FRESH)
        return verdicts

    def _announce(self) -> None:
        """Say this writer is alive; retire the slot's previous holder (dead: the slot is exclusive)."""
        pipe = self._client.pipeline(transaction=False)
        pipe.set(_writer_key(self.writer), 1, ex=WRITER_TTL_SECONDS)
        if self._slot:
            pipe.set(f"dedup:slot:{self._slot}", self.writer, get=True)
        try:
            answers = pipe.execute()
        except redis.RedisError as exc:
            self._warnings.warning("announce", "could not announce dedup writer %s: %s", self.writer, exc)
            return
        previous = answers[1] if self._slot else None
        if previous and previous.decode() != self.writer:
            try:
                self._client.delete(_writer_key(previous.decode()))
            except redis.RedisError as exc:
                self._warnings.warning(
                    "retire", "could not retire the previous dedup writer of %s: %s", self._slot, exc)
            log.info("retired dedup writer %s, the previous holder of %s", previous.decode(), self._slot)
        self._slot = ""  # done once

    def _beat(self) -> None:
        while not self._stopping.wait(HEARTBEAT_SECONDS):
            if self._slot:
                self._announce()
                continue
            try:
                self._client.set(_writer_key(self.writer), 1, ex=WRITER_TTL_SECONDS)
                self._release_leftovers()
            except redis.RedisError as exc:
                self._warnings.warning("heartbeat", "dedup writer heartbeat failed: %s", exc)

    def _release_leftovers(self) -> None:
        """Until they are released, other writers would read a failed group's keys as stored once this writer
        commits a later group."""
        for group, keys in list(self._unreleased.items()):
            self._release(keys=keys, args=[f"{self.writer}:{group}"])
            self._unreleased.pop(group, None)
            log.info("released %d dedup keys of failed group %d", len(keys), group)
