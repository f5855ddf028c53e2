"""Alarm rules storage (Postgres + Redis cache) and alarm pauses: the adapters around the
pure clinical engine in healthguard.clinical."""
