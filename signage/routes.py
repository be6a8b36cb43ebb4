"""The one list of routes: URL, name and view share one word."""

from __future__ import annotations

from pathlib import Path

from starlette.convertors import Convertor, register_url_convertor
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from signage.live.socket import player_socket
from signage.settings import PROJECT_ROOT, Settings
from signage.views import (
    alerts,
    api_alerts,
    api_tokens,
    api_v1,
    audit,
    auth,
    boards,
    counters,
    dashboard,
    fleet,
    fonts,
    kiosks,
    media,
    notices,
    ops,
    pairing,
    player,
    playlists,
    schedules,
    screens,
    sites,
    stats,
    tickets,
    two_step,
    users,
    voice,
    webhooks,
)

STATIC_DIR = Path(__file__).resolve().parent / "static"


class IdConvertor(Convertor[int]):
    """A row id in a path: at most 9 digits, so an absurd number is a 404, never an
    integer the database cannot hold."""

    regex = "[0-9]{1,9}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(int(value))


register_url_convertor("id", IdConvertor())
# The browser player's files live with the players; the CMS serves them.
PLAYER_DIR = PROJECT_ROOT / "players" / "browser"


def routes(settings: Settings) -> list[BaseRoute]:
    return [
        Route("/", dashboard.dashboard, name="dashboard"),
        Route("/healthz", dashboard.healthz, name="healthz"),
        Route("/readyz", ops.readyz, name="readyz"),
        Route("/metrics", ops.metrics, name="metrics"),
        Route("/login", auth.login, methods=["GET", "POST"], name="login"),
        Route("/logout", auth.logout, methods=["POST"], name="logout"),
        Route("/language", auth.language, methods=["POST"], name="language"),
        Route(
            "/login/two-step", auth.login_two_step, methods=["GET", "POST"], name="login_two_step"
        ),
        Route("/account", users.account, methods=["GET", "POST"], name="account"),
        Route("/account/two-step", two_step.two_step, methods=["GET", "POST"], name="two_step"),
        Route("/account/two-step/qr.svg", two_step.two_step_qr, name="two_step_qr"),
        Route(
            "/account/two-step/recovery",
            two_step.two_step_recovery,
            methods=["POST"],
            name="two_step_recovery",
        ),
        Route(
            "/account/two-step/off", two_step.two_step_off, methods=["POST"], name="two_step_off"
        ),
        Route("/users", users.user_list, methods=["GET", "POST"], name="user_list"),
        Route("/users/{user_id:id}", users.user_edit, methods=["GET", "POST"], name="user_edit"),
        Route(
            "/users/{user_id:id}/password",
            users.user_password,
            methods=["POST"],
            name="user_password",
        ),
        Route(
            "/users/{user_id:id}/two-step/reset",
            users.user_two_step_reset,
            methods=["POST"],
            name="user_two_step_reset",
        ),
        Route("/sites", sites.site_list, methods=["GET", "POST"], name="site_list"),
        Route("/sites/{site_id:id}", sites.site_edit, methods=["GET", "POST"], name="site_edit"),
        Route("/audit", audit.audit_log, name="audit_log"),
        # Webhooks to systems around a counter (administrators; docs/webhooks.md).
        Route("/webhooks", webhooks.webhook_list, methods=["GET", "POST"], name="webhook_list"),
        Route(
            "/webhooks/{webhook_id:id}",
            webhooks.webhook_edit,
            methods=["GET", "POST"],
            name="webhook_edit",
        ),
        Route(
            "/webhooks/{webhook_id:id}/test",
            webhooks.webhook_test,
            methods=["POST"],
            name="webhook_test",
        ),
        Route(
            "/webhooks/{webhook_id:id}/secret",
            webhooks.webhook_secret,
            methods=["POST"],
            name="webhook_secret",
        ),
        Route(
            "/webhooks/{webhook_id:id}/delete",
            webhooks.webhook_delete,
            methods=["POST"],
            name="webhook_delete",
        ),
        Route("/notices", notices.notice_list, name="notice_list"),
        Route("/notices/new", notices.notice_new, methods=["GET", "POST"], name="notice_new"),
        Route("/notices/fit", notices.notice_fit, methods=["POST"], name="notice_fit"),
        Route(
            "/notices/{notice_id:id}",
            notices.notice_edit,
            methods=["GET", "POST"],
            name="notice_edit",
        ),
        Route(
            "/notices/{notice_id:id}/{action:str}",
            notices.notice_action,
            methods=["POST"],
            name="notice_action",
        ),
        Route("/media", media.media_list, methods=["GET", "POST"], name="media_list"),
        Route("/media/files/{filename:str}", media.media_file, name="media_file"),
        Route("/playlists", playlists.playlist_list, methods=["GET", "POST"], name="playlist_list"),
        Route("/playlists/{playlist_id:id}", playlists.playlist_detail, name="playlist_detail"),
        Route(
            "/playlists/{playlist_id:id}/items",
            playlists.playlist_items,
            methods=["POST"],
            name="playlist_items",
        ),
        Route("/screens", screens.screen_list, methods=["GET", "POST"], name="screen_list"),
        Route(
            "/screens/{screen_id:id}",
            screens.screen_detail,
            methods=["GET", "POST"],
            name="screen_detail",
        ),
        Route("/screens/{screen_id:id}/preview", screens.screen_preview, name="screen_preview"),
        Route("/layouts.css", screens.layout_css, name="layout_css"),
        Route("/player", player.player_redirect, name="player_redirect"),
        Route("/player/", player.player_page, name="player_page"),
        Route("/player/pair", pairing.player_pair, methods=["POST"], name="player_pair"),
        Route("/player/sw.js", player.service_worker, name="player_service_worker"),
        Route(
            "/player/screenshot",
            player.player_screenshot,
            methods=["POST"],
            name="player_screenshot",
        ),
        Route(
            "/screens/{screen_id:id}/screenshot",
            screens.screen_screenshot,
            name="screen_screenshot",
        ),
        WebSocketRoute("/player/ws", player_socket, name="player_socket"),
        Mount("/player/static", StaticFiles(directory=PLAYER_DIR), name="player_assets"),
        Route("/fleet", fleet.fleet, name="fleet"),
        Route("/alerts", alerts.alert_list, name="alert_list"),
        Route("/alerts/new", alerts.alert_new, methods=["GET", "POST"], name="alert_new"),
        Route("/alerts/templates", alerts.alert_templates, name="alert_templates"),
        Route(
            "/alerts/templates/{key:str}/{language:str}",
            alerts.alert_template_save,
            methods=["POST"],
            name="alert_template_save",
        ),
        Route(
            "/alerts/{alert_id:id}/confirm",
            alerts.alert_confirm,
            methods=["POST"],
            name="alert_confirm",
        ),
        Route(
            "/alerts/{alert_id:id}/clear", alerts.alert_clear, methods=["POST"], name="alert_clear"
        ),
        Route("/screens/pair", pairing.screen_pair, methods=["GET", "POST"], name="screen_pair"),
        Route(
            "/screens/{screen_id:id}/revoke",
            pairing.screen_revoke,
            methods=["POST"],
            name="screen_revoke",
        ),
        Route(
            "/screens/{screen_id:id}/command",
            fleet.screen_command,
            methods=["POST"],
            name="screen_command",
        ),
        Route("/schedules", schedules.schedule_list, name="schedule_list"),
        Route(
            "/schedules/new", schedules.schedule_new, methods=["GET", "POST"], name="schedule_new"
        ),
        Route(
            "/schedules/{schedule_id:id}",
            schedules.schedule_edit,
            methods=["GET", "POST"],
            name="schedule_edit",
        ),
        Route("/closures", schedules.closure_list, methods=["GET", "POST"], name="closure_list"),
        # Queue calling: set-up and statistics (publishers), the counter console (staff),
        # the kiosk and its device endpoints, and what residents open on their phones.
        Route("/queue", counters.queue_home, name="queue_home"),
        Route("/queue/{site_id:id}", counters.queue_setup, name="queue_setup"),
        Route(
            "/queue/{site_id:id}/rules", counters.queue_rules, methods=["POST"], name="queue_rules"
        ),
        Route(
            "/queue/{site_id:id}/services",
            counters.service_add,
            methods=["POST"],
            name="service_add",
        ),
        Route(
            "/queue/services/{service_id:id}",
            counters.service_edit,
            methods=["POST"],
            name="service_edit",
        ),
        Route(
            "/queue/{site_id:id}/counters",
            counters.counter_add,
            methods=["POST"],
            name="counter_add",
        ),
        Route(
            "/queue/counters/{counter_id:id}",
            counters.counter_edit,
            methods=["POST"],
            name="counter_edit",
        ),
        Route("/queue/{site_id:id}/kiosks", kiosks.kiosk_add, methods=["POST"], name="kiosk_add"),
        Route(
            "/queue/kiosks/{kiosk_id:id}/revoke",
            kiosks.kiosk_revoke,
            methods=["POST"],
            name="kiosk_revoke",
        ),
        Route("/queue/{site_id:id}/stats", stats.queue_stats_page, name="queue_stats"),
        Route("/queue/{site_id:id}/stats.csv", stats.queue_stats_csv, name="queue_stats_csv"),
        Route("/counter", tickets.counter_home, name="counter_home"),
        Route("/counter/{counter_id:id}", tickets.counter_console, name="counter_console"),
        Route(
            "/counter/{counter_id:id}/{action:str}",
            tickets.counter_action,
            methods=["POST"],
            name="counter_action",
        ),
        Route("/kiosk/", kiosks.kiosk_page, name="kiosk_page"),
        Route("/api/kiosk/setup", kiosks.kiosk_setup, name="kiosk_setup"),
        Route("/api/kiosk/tickets", kiosks.kiosk_ticket, methods=["POST"], name="kiosk_ticket"),
        # Alert feeds from systems outside the CMS, with an API token (docs/alerts.md).
        Route("/api/v1/alerts/cap", api_alerts.alerts_cap, methods=["POST"], name="alerts_cap"),
        Route("/api/v1/alerts/jma", api_alerts.alerts_jma, methods=["POST"], name="alerts_jma"),
        # The integration API (docs/api.md): API tokens with scopes and a site.
        Route("/api/v1/openapi.json", api_v1.api_openapi, name="api_openapi"),
        Route(
            "/api/v1/notices",
            api_v1.api_notice_list,
            methods=["GET"],
            name="api_notice_list",
        ),
        Route(
            "/api/v1/notices",
            api_v1.api_notice_create,
            methods=["POST"],
            name="api_notice_create",
        ),
        Route("/api/v1/notices/{notice_id:id}", api_v1.api_notice, name="api_notice"),
        Route(
            "/api/v1/notices/{notice_id:id}/submit",
            api_v1.api_notice_submit,
            methods=["POST"],
            name="api_notice_submit",
        ),
        Route(
            "/api/v1/notices/{notice_id:id}/approve",
            api_v1.api_notice_approve,
            methods=["POST"],
            name="api_notice_approve",
        ),
        Route("/api/v1/sites/{site_id:id}/queue", api_v1.api_queue, name="api_queue"),
        Route(
            "/api/v1/sites/{site_id:id}/queue/stats", api_v1.api_queue_stats, name="api_queue_stats"
        ),
        Route(
            "/api/v1/sites/{site_id:id}/tickets",
            api_v1.api_ticket_issue,
            methods=["POST"],
            name="api_ticket_issue",
        ),
        Route("/api/v1/screens", api_v1.api_screen_list, name="api_screen_list"),
        Route("/api/v1/screens/{screen_id:id}", api_v1.api_screen, name="api_screen"),
        Route("/api/v1/alerts", api_v1.api_alert_list, methods=["GET"], name="api_alert_list"),
        Route("/api/v1/alerts", api_v1.api_alert_raise, methods=["POST"], name="api_alert_raise"),
        Route(
            "/api/v1/alerts/{alert_id:id}/clear",
            api_v1.api_alert_clear,
            methods=["POST"],
            name="api_alert_clear",
        ),
        # Administrators make and revoke API tokens.
        Route(
            "/api-tokens", api_tokens.api_token_list, methods=["GET", "POST"], name="api_token_list"
        ),
        Route(
            "/api-tokens/{token_id:id}/revoke",
            api_tokens.api_token_revoke,
            methods=["POST"],
            name="api_token_revoke",
        ),
        Route("/q/{public_id:str}", boards.ticket_status, name="ticket_status"),
        Route("/q/{public_id:str}/ticket.png", boards.ticket_image, name="ticket_image"),
        Route("/q/{public_id:str}/qr.svg", boards.ticket_qr, name="ticket_qr"),
        Route("/voice/{filename:str}", voice.voice_file, name="voice_file"),
        Route("/fonts/fonts.css", fonts.fonts_css, name="fonts_css"),
        Route("/fonts/index.json", fonts.fonts_index, name="fonts_index"),
        Route("/fonts/{filename:str}", fonts.font_file, name="font_file"),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        Mount(
            "/vendor/htmx",
            StaticFiles(directory=settings.vendor_dir / "htmx.org" / "dist", check_dir=False),
            name="htmx",
        ),
    ]
