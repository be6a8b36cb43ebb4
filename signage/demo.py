"""Demo data for a city hall: two sites, staff accounts, and content that plays.

Everything is created through the same domain functions the staff UI uses, so the demo
is audited and validated like real work.
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from PIL import Image, ImageDraw
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from content.media import ingest_image
from content.notices import NoticeText
from signage import (
    auth,
    changes,
    media,
    notices,
    playlists,
    schedules,
    screens,
    sites,
    users,
    webhooks,
)
from signage.db import transaction, utcnow
from signage.live import pairing
from signage.models import Playlist, Role, Screen, User
from signage.queue import counters, kiosks, tickets

DEMO_SITES = (
    sites.SiteInput(
        "honcho",
        "市役所 本庁舎",
        "City Hall (Main Building)",
        "Asia/Tokyo",
        "ja,en,zh-Hans,ko,pt,vi",
    ),
    sites.SiteInput("kita", "北支所", "North Branch Office", "Asia/Tokyo", "ja,en,zh-Hans,vi"),
)
# (username, display name, role, index of the site or None for every site, language)
DEMO_USERS = (
    ("admin", "管理者", Role.ADMIN, None, "ja"),
    ("sato", "佐藤 花子", Role.PUBLISHER, None, "ja"),
    ("tanaka", "田中 一郎", Role.EDITOR, 0, "ja"),
    ("smith", "Alex Smith", Role.EDITOR, 1, "en"),
    ("suzuki", "鈴木 美咲", Role.COUNTER, 0, "ja"),
)
WEEKDAYS = [0, 1, 2, 3, 4]
ROLE_WORDS = {
    Role.ADMIN: "administrator",
    Role.PUBLISHER: "publisher (approves notices)",
    Role.EDITOR: "editor (writes notices)",
    Role.COUNTER: "counter staff",
}


def _poster(kind: str) -> bytes:
    """A simple picture drawn here (no files from outside): a calendar or a map."""
    image = Image.new("RGB", (1600, 900), "#0b4f8a" if kind == "calendar" else "#1d6b35")
    draw = ImageDraw.Draw(image)
    if kind == "calendar":
        for row in range(5):
            for col in range(7):
                x, y = 180 + col * 180, 160 + row * 140
                fill = "#ffd24d" if (row, col) == (3, 3) else "#ffffff"
                draw.rounded_rectangle((x, y, x + 150, y + 110), radius=12, fill=fill)
    else:
        draw.rectangle((200, 150, 1400, 750), outline="#ffffff", width=12)
        draw.rectangle((250, 200, 700, 450), fill="#ffffff")
        draw.rectangle((800, 200, 1350, 700), fill="#cfe8d5")
        draw.ellipse((520, 560, 600, 640), fill="#ffd24d")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _texts(**by_language: tuple[str, str]) -> list[NoticeText]:
    return [
        NoticeText(code.replace("_", "-"), title, body)
        for code, (title, body) in by_language.items()
    ]


def tax_notice_texts(deadline: date) -> list[NoticeText]:
    """The demo's longest notice (tests check that it fits every layout)."""
    return _texts(
        ja=(
            "市県民税 納期限のお知らせ",
            f"第3期の納期限は**{deadline:%m月%d日}**です。\n"
            "- 口座振替の方は前日までに残高をご確認ください\n- コンビニでも納付できます",
        ),
        en=(
            "Municipal tax deadline",
            f"The 3rd instalment is due **{deadline:%d %B}**.\n"
            "- You can also pay at convenience stores",
        ),
        zh_Hans=("市县民税缴纳期限", f"第3期缴纳期限为**{deadline:%m月%d日}**。"),
        ko=("시·현민세 납부 기한", f"제3기 납부 기한은 **{deadline:%m월 %d일}**입니다."),
        pt=("Prazo do imposto municipal", f"O prazo da 3ª parcela é **{deadline:%d/%m}**."),
        vi=("Hạn nộp thuế thị dân", f"Hạn nộp kỳ 3 là **{deadline:%d/%m}**."),
    )


def _next_holiday_or_year_end(today: date) -> date:
    """A closure day a visitor can see in the preview soon: the next 29 December."""
    candidate = date(today.year, 12, 29)
    return candidate if candidate >= today else date(today.year + 1, 12, 29)


@dataclass
class Demo:
    passwords: dict[str, str] = field(default_factory=dict)  # user name -> password
    roles: dict[str, str] = field(default_factory=dict)  # user name -> role and site, in words
    players: dict[str, str] = field(default_factory=dict)  # screen name -> device token
    kiosk: str = ""  # the kiosk's device token
    counters: dict[str, int] = field(default_factory=dict)  # counter name -> id


async def load_demo(
    sessions: async_sessionmaker[AsyncSession],
    media_dir: Path | None = None,
    secret_key: str = "",
) -> Demo:
    """Create the demo city hall: accounts with generated passwords and, with a media
    folder, content and two screens already paired to the device tokens returned, and a
    webhook that is turned off (its address is an example)."""
    demo = Demo()
    passwords = demo.passwords
    async with transaction(sessions) as db:
        created = [await sites.create_site(db, None, "", data) for data in DEMO_SITES]
        accounts: dict[str, User] = {}
        for username, name, role, site_index, language in DEMO_USERS:
            password = auth.generate_password()
            accounts[username] = await users.create_user(
                db,
                None,
                "",
                username,
                password,
                users.UserInput(
                    display_name=name,
                    role=role,
                    site_id=None if site_index is None else created[site_index].id,
                    language=language,
                ),
            )
            passwords[username] = password
            where = "all sites" if site_index is None else f"{created[site_index].name}"
            demo.roles[username] = f"{ROLE_WORDS[role]}, {where}"
        if media_dir is not None:
            demo.players = await _content(db, accounts["sato"], created[0].id, media_dir)
            await _queue(db, accounts["sato"], created[0].id, demo)
            await webhooks.create_webhook(
                db, accounts["admin"], "", created[0].id,
                webhooks.WebhookInput(
                    "市民課 RPA", "https://rpa.city.example/hooks/signage",
                    (webhooks.QUEUE_CALL, webhooks.TICKET_STATUS), enabled=False,
                ),
                secret_key or secrets.token_urlsafe(32),
            )  # fmt: skip
    return demo


async def _queue(db: AsyncSession, publisher: User, site_id: int, demo: Demo) -> None:
    """Services, counters, a kiosk and a queue board at the main building, with a few
    residents already waiting, so a visitor can call a number within a minute."""
    made = {}
    for prefix, name, name_en, names in (
        ("A", "住民票・戸籍", "Resident records", {"zh-Hans": "住民票・户籍", "vi": "Hộ tịch"}),
        ("B", "税", "Taxes", {"zh-Hans": "税务", "vi": "Thuế"}),
        (
            "C",
            "国民健康保険",
            "Health insurance",
            {"zh-Hans": "国民健康保险", "vi": "Bảo hiểm y tế"},
        ),
    ):
        service = await counters.create_service(
            db, publisher, "", site_id, counters.ServiceInput(prefix, name, name_en, names)
        )
        made[prefix] = service.id
    for number, name, prefixes in (
        (1, "住民票 1", "A"),
        (2, "住民票 2・税", "AB"),
        (3, "税・保険", "BC"),
    ):
        counter = await counters.create_counter(
            db, publisher, "", site_id,
            counters.CounterInput(number, name, [made[p] for p in prefixes]),
        )  # fmt: skip
        counter.open = True
        demo.counters[name] = counter.id
    # Open around the clock, so the demo's kiosk issues numbers whenever it is tried.
    await counters.update_rules(
        db, publisher, "", site_id,
        counters.RulesInput("00:00", "23:59", 3, 2, 10, ["ja", "en"]),
    )  # fmt: skip
    _, demo.kiosk = await kiosks.create_kiosk(db, publisher, "", site_id, "1階 入口")
    for prefix, priority in (("A", False), ("A", False), ("B", False), ("A", True), ("C", False)):
        await tickets.issue(
            db, site_id=site_id, service_id=made[prefix], priority=priority, source="staff",
            actor=publisher,
        )  # fmt: skip
    everyday = await db.scalar(sa.select(Playlist.id).where(Playlist.name == "テロップ"))
    board = await screens.create_screen(
        db, publisher, "", screens.ScreenInput(site_id, "1階 呼び出し表示", "queue", None, ["1F"])
    )
    await schedules.create_schedule(
        db, publisher, "",
        schedules.ScheduleInput("テロップ", int(everyday or 0), f"screen:{board.id}", "ticker",
                                10, None, None, "all", []),
    )  # fmt: skip
    counter_screen = await db.scalar(sa.select(Screen).where(Screen.name == "3番窓口"))
    if counter_screen is not None:
        counter_screen.counter_id = demo.counters["税・保険"]
        counter_screen.silent = True  # the hall announces; the counter-top display only shows
    token = secrets.token_urlsafe(24)
    board.token_hash, board.paired_at = pairing.token_hash(token), utcnow()
    demo.players[board.name] = token
    for screen_id in [board.id] + ([counter_screen.id] if counter_screen else []):
        changes.record(db, changes.ScreenChanged(screen_id))


async def _content(
    db: AsyncSession, publisher: User, site_id: int, media_dir: Path
) -> dict[str, str]:
    tz = ZoneInfo("Asia/Tokyo")
    now = utcnow().astimezone(tz)
    today = now.date()

    pictures = []
    for kind, name in (("calendar", "納税カレンダー.png"), ("map", "庁舎案内図.png")):
        image = ingest_image(_poster(kind), name)
        stored, _ = await media.store(db, publisher, "", image, name, media_dir)
        pictures.append(stored)

    async def notice(
        texts: list[NoticeText],
        style: str = "normal",
        *,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        image_id: int | None = None,
    ) -> int:
        data = notices.NoticeInput(None, style, valid_from, valid_until, image_id, texts)
        created = await notices.create_notice(db, publisher, "", data, submit=True)
        await notices.approve_notice(db, publisher, "", created.id)
        return created.id

    hours = await notice(
        _texts(
            ja=("開庁時間", "**平日 8:30〜17:15**\n土日・祝日・年末年始は閉庁します。"),
            en=("Opening hours", "**Weekdays 8:30–17:15**\nClosed on weekends and holidays."),
            zh_Hans=("办公时间", "**工作日 8:30–17:15**\n周末、节假日休息。"),
            ko=("업무 시간", "**평일 8:30~17:15**\n주말·공휴일은 휴무입니다."),
            pt=("Horário de atendimento", "**Dias úteis 8:30–17:15**"),
            vi=("Giờ làm việc", "**Ngày thường 8:30–17:15**"),
        )
    )
    deadline = today + timedelta(days=(3 - today.weekday()) % 7 + 7)
    tax = await notice(
        tax_notice_texts(deadline),
        style="important",
        valid_from=datetime.combine(today, time(8, 30), tz),
        valid_until=datetime.combine(deadline + timedelta(days=1), time(0, 0), tz),
        image_id=pictures[0].id,
    )
    closed = await notice(
        _texts(
            ja=("本日は閉庁日です", "お急ぎの届出は夜間・休日窓口(東玄関)へ。"),
            en=("The office is closed today", "For urgent filings, use the east entrance desk."),
            zh_Hans=("今天休息", "紧急申报请到东门值班窗口。"),
            vi=("Hôm nay nghỉ làm việc", "Hồ sơ khẩn cấp xin đến quầy cửa Đông."),
        ),
        style="closure",
    )
    guide = await notice(
        _texts(
            ja=("庁舎案内", "1階: 市民課・保険年金課\n2階: 税務課"),
            en=("Floor guide", "1F: Resident Services, Insurance\n2F: Taxation"),
        ),
        image_id=pictures[1].id,
    )

    async def playlist(name: str, items: list[playlists.ItemInput]) -> int:
        created = await playlists.create_playlist(db, publisher, "", name, site_id)
        for item in items:
            await playlists.add_item(db, publisher, "", created.id, item)
        return created.id

    everyday = await playlist(
        "いつもの案内",
        [
            playlists.ItemInput("notice", notice_id=hours, duration_seconds=12),
            playlists.ItemInput("notice", notice_id=guide, duration_seconds=10),
            playlists.ItemInput("image", media_id=pictures[1].id, duration_seconds=8),
        ],
    )
    tax_week = await playlist(
        "納税期限",
        [
            playlists.ItemInput("notice", notice_id=tax, duration_seconds=15),
            playlists.ItemInput("notice", notice_id=hours, duration_seconds=8),
        ],
    )
    closure = await playlist(
        "閉庁日", [playlists.ItemInput("notice", notice_id=closed, duration_seconds=20)]
    )
    side = await playlist(
        "サイド: 案内図",
        [playlists.ItemInput("image", media_id=pictures[1].id, duration_seconds=30)],
    )
    ticker = await playlist(
        "テロップ",
        [
            playlists.ItemInput(
                "ticker",
                text="マイナンバーカードの受け取りは予約制です / "
                "My Number Card pick-up is by appointment",
                duration_seconds=20,
            )
        ],
    )

    hall = await screens.create_screen(
        db,
        publisher,
        "",
        screens.ScreenInput(site_id, "1階 待合ホール", "hall", everyday, ["1F"]),
    )
    counter = await screens.create_screen(
        db,
        publisher,
        "",
        screens.ScreenInput(site_id, "3番窓口", "counter", everyday, ["窓口"]),
    )

    async def schedule(
        name: str,
        playlist_id: int,
        target: str,
        *,
        zone: str = "main",
        priority: int = 10,
        days: str = "all",
        dayparts: list[schedules.DaypartInput] | None = None,
    ) -> None:
        data = schedules.ScheduleInput(
            name, playlist_id, target, zone, priority, None, None, days, dayparts or []
        )
        await schedules.create_schedule(db, publisher, "", data)

    office_hours = [schedules.DaypartInput(WEEKDAYS, "08:30", "17:15")]
    for screen in (hall, counter):
        target = f"screen:{screen.id}"
        await schedule(
            "納税期限の週", tax_week, target, priority=20, days="open", dayparts=office_hours
        )
        await schedule("閉庁日の案内", closure, target, priority=50, days="closed")
        await schedule("テロップ", ticker, target, zone="ticker", priority=10)
    await schedule("案内図", side, f"screen:{hall.id}", zone="side", priority=10)
    await sites.add_closure(
        db, publisher, "", site_id, _next_holiday_or_year_end(today), "年末年始"
    )
    players = {}
    for screen in (hall, counter):
        # Paired in advance, so the printed player links play at once.
        token = secrets.token_urlsafe(24)
        screen.token_hash, screen.paired_at = pairing.token_hash(token), utcnow()
        players[screen.name] = token
    for screen in (hall, counter):
        changes.record(db, changes.ScreenChanged(screen.id))
    return players
