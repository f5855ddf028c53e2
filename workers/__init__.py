"""RQ job entry points and the start-up of workers and the scheduler.

Jobs are thin: they open a session, call a service function, commit, then publish the
change. Every job is idempotent or safe to replay.
"""
