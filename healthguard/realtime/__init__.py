"""Live updates: change events published on Redis after commit, fanned out to Reflex feeds.

Writers call `publish_change` after their transaction commits. Every web worker runs one
`ChangeListener` (a lifespan task); each event is claimed by exactly one worker, which
reloads the affected feeds from Postgres inside `app.modify_state`, and Reflex pushes the
delta to every browser linked to those feeds.
"""

from healthguard.realtime.events import ChangeEvent, feed_tokens_for
from healthguard.realtime.listener import ChangeListener
from healthguard.realtime.publish import publish_change

__all__ = ["ChangeEvent", "ChangeListener", "feed_tokens_for", "publish_change"]
