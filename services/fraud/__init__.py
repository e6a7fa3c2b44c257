"""FraudService: severity and reasons per event (issue 5; UNIMPLEMENTED until then)."""
