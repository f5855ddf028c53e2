"""Sign-in state of a browser: the session cookie, who is signed in, idle timeout.

Every page's on_load and every event handler that reads or changes data asks
`current_principal()` (server side); the UI hiding a button is never the enforcement.
The session token is a random secret kept in a SameSite=Strict cookie; only its SHA-256
is stored server-side (healthguard.security.accounts).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import reflex as rx

from healthguard.db import session_scope
from healthguard.security.accounts import (
    AuthError,
    Origin,
    SessionCheck,
    authenticate,
    check_ui_session,
    end_ui_session,
    start_ui_session,
)
from healthguard.security.permissions import Permission, Principal, allows
from healthguard.settings import get_settings
from healthguard.ui import routes

ENDED_MESSAGES = {
    "expired": "You were signed out after a period without activity. Sign in again.",
    "logged_out": "You have signed out.",
    "disabled": "This account has been disabled. Ask an administrator.",
    "password_reset": "Your password was changed. Sign in again.",
    "forbidden": "Your role may not open that page.",
}


# A refusal stays on the sign-in form at least this long, even if the page's on_load comes
# after it: a quick sign-in on a busy machine can reach the server before the on_load of
# the redirect to /login, which then wiped the message the person had just been shown.
LOGIN_ERROR_KEPT_SECONDS = 10.0


def _secure_cookie() -> bool:
    return get_settings().url.startswith("https://")


class AuthState(rx.State):
    session_token: str = rx.Cookie(
        "", name="hg_session", path="/", same_site="strict", secure=_secure_cookie()
    )
    username: str = ""
    role: str = ""
    login_error: str = ""
    _login_error_at: float = 0.0  # when the refusal shown was given (server only)
    notice: str = ""
    signing_in: bool = False

    def _refuse(self, message: str) -> None:
        self.login_error, self._login_error_at = message, time.time()

    def _origin(self) -> Origin:
        headers = self.router.headers
        return Origin(ip=self.router.session.client_ip or None, user_agent=headers.user_agent)

    async def current_principal(self, activity: bool = True) -> Principal | None:
        """Who is signed in on this browser now, or None (session missing or ended)."""
        token = self.session_token
        if not token:
            return None
        settings, now, origin = get_settings(), datetime.now(UTC), self._origin()

        def check() -> SessionCheck:
            with session_scope() as session:
                return check_ui_session(
                    session, token, settings=settings, now=now, activity=activity, origin=origin
                )

        result = await asyncio.to_thread(check)
        if result.principal is None:
            self.session_token = ""
            self.username = self.role = ""
            self.notice = ENDED_MESSAGES.get(result.ended_reason or "", "")
            return None
        self.username, self.role = result.principal.name, result.principal.role or ""
        return result.principal

    async def allowed_principal(self, permission: Permission) -> Principal | None:
        """The signed-in person when their role holds `permission`, else None."""
        principal = await self.current_principal()
        if principal is None or not allows(principal, permission):
            return None
        return principal

    async def require(self, permission: Permission | None = None):  # type: ignore[no-untyped-def]
        """(principal, redirect): the principal when allowed, else an event to the login page."""
        principal = await self.current_principal()
        if principal is None:
            return None, rx.redirect(routes.LOGIN)
        if permission is not None and not allows(principal, permission):
            self.notice = ENDED_MESSAGES["forbidden"]
            return None, rx.redirect(routes.home_for(principal))
        return principal, None

    @rx.event
    async def require_session(self):
        """on_load of every signed-in page."""
        _, redirect = await self.require()
        return redirect

    @rx.event
    async def heartbeat(self, _value: str = ""):
        """Fired every few seconds by the page: ends an idle session without counting as
        activity itself, and sends the browser back to the sign-in page with the reason."""
        if not self.session_token:
            return None
        if await self.current_principal(activity=False) is None:
            return rx.redirect(routes.LOGIN)
        return None

    @rx.event
    async def login(self, form: dict):
        username = str(form.get("username", "")).strip()
        password = str(form.get("password", ""))
        if not username or not password:
            self._refuse("Enter your username and password.")
            return
        settings, now, origin = get_settings(), datetime.now(UTC), self._origin()

        def sign_in() -> tuple[str, str, str] | AuthError:
            with session_scope() as session:
                try:
                    user = authenticate(
                        session, username, password, settings=settings, now=now, origin=origin
                    )
                except AuthError as exc:
                    refusal: AuthError = exc
                else:
                    token = start_ui_session(session, user, now=now, origin=origin)
                    return token, user.username, user.role
            return refusal  # the failure's audit record is committed by now

        self.signing_in = True
        yield
        result = await asyncio.to_thread(sign_in)
        self.signing_in = False
        if isinstance(result, AuthError):
            self._refuse(result.message)
            return
        self.session_token, self.username, self.role = result
        self.login_error = self.notice = ""
        principal = await self.current_principal()
        yield rx.redirect(routes.home_for(principal) if principal else routes.LOGIN)

    @rx.event
    async def logout(self):
        token, origin = self.session_token, self._origin()
        if token:

            def end() -> None:
                with session_scope() as session:
                    end_ui_session(session, token, now=datetime.now(UTC), origin=origin)

            await asyncio.to_thread(end)
        self.session_token = self.username = self.role = ""
        self.notice = ENDED_MESSAGES["logged_out"]
        return rx.redirect(routes.LOGIN)

    @rx.event
    async def on_login_page(self):
        """Already signed in: go to your page instead of the form. A refusal from an
        earlier visit is cleared; one just given is kept (LOGIN_ERROR_KEPT_SECONDS)."""
        if time.time() - self._login_error_at > LOGIN_ERROR_KEPT_SECONDS:
            self.login_error = ""
        if self.session_token:
            principal = await self.current_principal(activity=False)
            if principal is not None:
                return rx.redirect(routes.home_for(principal))
        return None

    @rx.var
    def role_label(self) -> str:
        return self.role.replace("_", " ")

    @rx.var
    def page_links(self) -> list[dict[str, str]]:
        """The header's navigation for this role (each page still checks on the server)."""
        return routes.pages_for_role(self.role)
