"""Incidents: what a nurse or doctor is asked to acknowledge and resolve."""
