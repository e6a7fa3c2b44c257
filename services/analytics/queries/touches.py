"""Touches: events that carry a campaign (campaign or utm_campaign), with their source and medium (plain or
utm_), read from event_properties, which is sorted by key, so only those rows are read rather than every
event's whole properties map. Shared by revenue-by-channel and attribution."""

from __future__ import annotations

from services.analytics.deletions import PENDING_USERS

TOUCH_KEYS = ("campaign", "utm_campaign", "source", "utm_source", "medium", "utm_medium")

# Events that carry a campaign, read from event_properties (sorted by key: only campaign rows are read, not
# every event's whole properties map), one row per event with its campaign, source and medium.
TAGGED = f"""
tagged AS (
    SELECT event_id, any(user_id) AS user, min(event_time) AS at, any(event_type) AS kind,
           if(anyIf(value, key = 'campaign') != '', anyIf(value, key = 'campaign'),
              anyIf(value, key = 'utm_campaign')) AS campaign,
           if(anyIf(value, key = 'source') != '', anyIf(value, key = 'source'), anyIf(value, key = 'utm_source'))
               AS source,
           if(anyIf(value, key = 'medium') != '', anyIf(value, key = 'medium'), anyIf(value, key = 'utm_medium'))
               AS medium
    FROM event_properties
    WHERE appspace_id = {{{{appspace:String}}}} AND key IN {TOUCH_KEYS}
      AND event_time >= {{{{since:DateTime64(3, 'UTC')}}}} - INTERVAL {{lookback}} DAY
      AND event_time < {{{{until:DateTime64(3, 'UTC')}}}}
      AND {PENDING_USERS.replace("{", "{{").replace("}", "}}")}
    GROUP BY event_id
    HAVING campaign != ''
)"""
