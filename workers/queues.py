"""Queue names and the Redis connection jobs and workers share."""

from __future__ import annotations

import redis
from rq import Queue

from healthguard.settings import get_settings

# Highest priority first: a worker always drains `urgent` before `default`.
URGENT = "urgent"
DEFAULT = "default"
ALL_QUEUES = (URGENT, DEFAULT)


def redis_connection(url: str | None = None) -> redis.Redis:
    return redis.Redis.from_url(url or get_settings().effective_redis_url())


def get_queue(name: str = DEFAULT, connection: redis.Redis | None = None) -> Queue:
    return Queue(name, connection=connection or redis_connection())
