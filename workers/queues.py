"""Queue names and the Redis connection jobs and workers share."""

from __future__ import annotations

import redis
from rq import Queue

from healthguard.settings import get_settings

# Highest priority first: a worker always drains `urgent` before `default`.
URGENT = "urgent"
DEFAULT = "default"
ALL_QUEUES = (URGENT, DEFAULT)


_clients: dict[str, redis.Redis] = {}


def redis_connection(url: str | None = None) -> redis.Redis:
    """One client (and connection pool) per URL and process, not one per call: the ingest
    hot path asks for it on every request. redis-py resets the pool after a fork."""
    url = url or get_settings().effective_redis_url()
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url)
    return _clients[url]


def get_queue(name: str = DEFAULT, connection: redis.Redis | None = None) -> Queue:
    return Queue(name, connection=connection or redis_connection())
