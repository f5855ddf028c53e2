"""Notifications: channels, per-person rules, delivery tracking, throttles and answer links.

Every notification is a secondary alarm: the bedside monitor stays the primary one.
"""
