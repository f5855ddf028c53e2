"""HealthGuard Ops: bedside vital signs to the right nurse or doctor, escalated in seconds."""

__version__ = "0.1.0"
