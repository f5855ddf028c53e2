"""On-call: staff, schedules and rotations, assignment and escalation policies.

The planning here is pure (plain data in, plain data out, the clock passed in); the adapters
that read Postgres and Redis and schedule RQ jobs call it.
"""
