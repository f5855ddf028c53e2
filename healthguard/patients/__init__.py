"""Patients: identity (encrypted at rest) and look-ups."""
