"""The one list of routes: URL, name and view share one word."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from signage.settings import Settings
from signage.views import audit, auth, dashboard, sites, users

STATIC_DIR = Path(__file__).resolve().parent / "static"


def routes(settings: Settings) -> list[BaseRoute]:
    return [
        Route("/", dashboard.dashboard, name="dashboard"),
        Route("/healthz", dashboard.healthz, name="healthz"),
        Route("/login", auth.login, methods=["GET", "POST"], name="login"),
        Route("/logout", auth.logout, methods=["POST"], name="logout"),
        Route("/language", auth.language, methods=["POST"], name="language"),
        Route("/account", users.account, methods=["GET", "POST"], name="account"),
        Route("/users", users.user_list, methods=["GET", "POST"], name="user_list"),
        Route("/users/{user_id:int}", users.user_edit, methods=["GET", "POST"], name="user_edit"),
        Route(
            "/users/{user_id:int}/password",
            users.user_password,
            methods=["POST"],
            name="user_password",
        ),
        Route("/sites", sites.site_list, methods=["GET", "POST"], name="site_list"),
        Route("/sites/{site_id:int}", sites.site_edit, methods=["GET", "POST"], name="site_edit"),
        Route("/audit", audit.audit_log, name="audit_log"),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        Mount(
            "/vendor/htmx",
            StaticFiles(directory=settings.vendor_dir / "htmx.org" / "dist", check_dir=False),
            name="htmx",
        ),
    ]
