"""AnalyticsService: the documented query endpoints (issues 6 and 7; every RPC answers UNIMPLEMENTED until then)."""
