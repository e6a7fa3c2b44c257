"""FxService: amounts to an appspace's base currency at the rate of the event's time."""
