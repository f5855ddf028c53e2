"""The REST API (FastAPI), mounted in the Reflex app through `api_transformer`.

Routers are thin: parse, authorise, call a service function, serialise.
"""

from healthguard.api.app import build_api

__all__ = ["build_api"]
