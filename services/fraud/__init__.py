"""FraudService: severity and reasons per event (rules.py), with velocity windows in Redis (velocity.py)."""
