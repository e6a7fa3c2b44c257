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
