"""Delivery channels behind one interface (``base.Channel``)."""
