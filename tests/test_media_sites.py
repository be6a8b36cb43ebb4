"""A picture another site already has is added to the uploader's library, revealing nothing."""

from __future__ import annotations

import io

import sqlalchemy as sa
from PIL import Image
from starlette.testclient import TestClient

from signage.models import Media, Role

from .conftest import add_site, add_user, csrf_token, login


def _upload(client: TestClient, name: str, data: bytes) -> int:
    response = client.post(
        "/media",
        files={"file": (name, data, "image/png")},
        headers={"X-CSRF-Token": csrf_token(client, "/media")},
    )
    return response.status_code


def test_a_picture_another_site_has_appears_in_the_uploaders_library(
    client: TestClient, db: sa.Engine
) -> None:
    north, south = add_site(db, "north", "北庁舎"), add_site(db, "south", "南庁舎")
    add_user(db, "kita", Role.EDITOR, site_id=north)
    add_user(db, "minami", Role.EDITOR, site_id=south)
    picture = io.BytesIO()
    Image.new("RGB", (400, 300), "teal").save(picture, "PNG")

    login(client, "kita")
    assert _upload(client, "北の秘密の計画.png", picture.getvalue()) == 303
    other = TestClient(client.app, follow_redirects=False)
    login(other, "minami")
    assert _upload(other, "案内.png", picture.getvalue()) == 303
    library = other.get("/media").text
    assert "案内.png" in library
    assert "北の秘密の計画" not in library
    # Uploading it again to the same library adds nothing.
    assert _upload(other, "また.png", picture.getvalue()) == 303
    with db.connect() as conn:
        rows = conn.execute(sa.select(Media.site_id, Media.display_name).order_by(Media.id)).all()
    assert [tuple(row) for row in rows] == [(north, "北の秘密の計画.png"), (south, "案内.png")]
    assert "北の秘密の計画" in client.get("/media").text
    assert "案内.png" not in client.get("/media").text
