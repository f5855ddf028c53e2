"""Reflex states: one per feature, explicit event handlers, derived data as vars."""
