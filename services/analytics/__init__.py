"""AnalyticsService: the documented query endpoints (queries/), user deletion and the last-touch worker."""
