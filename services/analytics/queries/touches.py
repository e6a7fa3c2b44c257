"""Touches: events that carry a campaign (campaign or utm_campaign), with their source and medium (plain or
utm_). Shared by revenue-by-channel and attribution."""

from __future__ import annotations

from services.analytics.deletions import PENDING_USERS

# Events that carry a campaign (the touches table, filled as events arrive; migration 0006), one row per event.
TAGGED = f"""
tagged AS (
    SELECT event_id, user_id AS user, event_time AS at, event_type AS kind, campaign, source, medium
    FROM touches
    WHERE appspace_id = {{{{appspace:String}}}}
      AND event_time >= {{{{since:DateTime64(3, 'UTC')}}}} - INTERVAL {{lookback}} DAY
      AND event_time < {{{{until:DateTime64(3, 'UTC')}}}}
      AND {PENDING_USERS.replace("{", "{{").replace("}", "}}")}
)"""
# A channel travels through joins and groupings as a 64-bit key of its three names (as scope.ACTOR_KEY
# explains); CHANNEL_NAMES (a CTE over `tagged`) turns keys back into text at the end.
CHANNEL_KEY = "cityHash64(campaign, source, medium)"
CHANNEL_NAMES = f"""
names AS (
    SELECT {CHANNEL_KEY} AS name_key, any(campaign) AS name_campaign, any(source) AS name_source,
           any(medium) AS name_medium
    FROM tagged
    GROUP BY name_key
)"""
