"""IngestService: validate, gate, meter, deduplicate and durably store ecommerce events."""
