"""Reflex configuration, derived from HealthGuard's own settings (healthguard/settings.py)."""

import reflex as rx
from reflex.plugins.sitemap import SitemapPlugin

from healthguard.settings import get_settings

_settings = get_settings()

config = rx.Config(
    app_name="healthguard",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    frontend_port=_settings.web_port,
    backend_port=_settings.web_port,
    api_url=_settings.url,
    deploy_url=_settings.url,
    # Redis holds the UI state so every web worker sees the same shared feeds.
    redis_url=_settings.effective_redis_url(),
    state_manager_mode=rx.constants.StateManagerMode.REDIS,
    redis_token_expiration=60 * 60 * 12,
    default_color_mode="light",
    # Cross-origin API calls only from the configured origins (same-origin needs none).
    cors_allowed_origins=_settings.cors_origins or [_settings.url],
    disable_plugins=[SitemapPlugin],
)
