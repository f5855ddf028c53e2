"""Prometheus metrics of the live path in the web workers."""

from prometheus_client import Counter, Histogram

REALTIME_EVENTS = Counter(
    "healthguard_realtime_events_total", "Change events claimed by this web worker", ["kind"]
)
FEED_RELOADS = Counter("healthguard_feed_reloads_total", "Live feeds reloaded from Postgres")
FEED_RELOAD_SECONDS = Histogram(
    "healthguard_feed_reload_seconds", "Time to reload a live feed and push it to browsers"
)
