"""Demo data for a city hall: two sites, an admin and a few staff accounts."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signage import auth, sites, users
from signage.db import transaction
from signage.models import Role

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


async def load_demo(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """Create the demo city hall; returns each user name with its generated password."""
    passwords: dict[str, str] = {}
    async with transaction(sessions) as db:
        created = [await sites.create_site(db, None, "", data) for data in DEMO_SITES]
        for username, name, role, site_index, language in DEMO_USERS:
            password = auth.generate_password()
            await users.create_user(
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
    return passwords
