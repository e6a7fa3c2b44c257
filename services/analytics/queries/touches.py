"""Touches: events that carry a campaign (campaign or utm_campaign), with their source and medium (plain or
utm_). Shared by revenue-by-channel and attribution."""

from __future__ import annotations

from services.analytics.queries.scope import PENDING_USERS

# Events that carry a campaign (the touches table, filled as events arrive; migration 0006), one row per event,
# with the scope's rule for flagged events: a touch is an event like any other, so every touch in the range is
# also an event of its user in the range.
# A touch's user and channel also come as stored 64-bit keys (migration 0011; scope.ACTOR_KEY explains keys):
# user_key = cityHash64(user_id), the same key as the actor's when the actor is that user, and channel_key =
# cityHash64(campaign, source, medium), which CHANNEL_NAMES turns back into text at the end.
TAGGED = f"""
tagged AS (
    SELECT event_id, user_id AS user, user_key, event_time, event_time AS at, seq, event_type AS kind, campaign,
           source, medium, channel_key
    FROM touches
    WHERE appspace_id = {{{{appspace:String}}}}
      AND event_time >= {{{{since:DateTime64(3, 'UTC')}}}} - INTERVAL {{lookback}} DAY
      AND event_time < {{{{until:DateTime64(3, 'UTC')}}}}
      AND (fraud_severity = 0 OR {{{{include_flagged:UInt8}}}} = 1)
      AND {PENDING_USERS.replace("{", "{{").replace("}", "}}")}
)"""
# The touch has a user (an empty user_id hashes to cityHash64('')), decided by the stored key without reading
# the string.
HAS_USER = "user_key != cityHash64('')"
# Channel keys back to names (migration 0013: one row per channel and appspace, repeated until merged).
CHANNEL_NAMES = """
names AS (
    SELECT channel_key AS name_key, any(campaign) AS name_campaign, any(source) AS name_source,
           any(medium) AS name_medium
    FROM touch_channels
    WHERE appspace_id = {appspace:String}
    GROUP BY name_key
)"""
