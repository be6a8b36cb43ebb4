"""The headless player: plays a screen's manifest on a small display, drawn with Pillow.

    player = Player(Options(server="http://cms:8000", cache=Path("/var/cache/signage")))
    player.start()  # in a background thread; or `await player.run()` in your own loop
    player.playing  # {"header": "clock", "main": "notice 12 ja: 窓口のご案内", ...}
    player.stop()

It speaks docs/protocol.md like the browser player, keeps its token, manifest and media in
its cache folder, and keeps playing by its own clock while the server is away.
"""

from __future__ import annotations

from players.headless.cache import Cache, MediaError, fetch_media, write_atomic
from players.headless.frames import Painter, Scene, ZoneView, describe, zone_views
from players.headless.outputs import FramebufferOutput, PngOutput, raw_pixels
from players.headless.player import Options, Player
from players.headless.text import Fonts, banner, html_lines, wrap

__all__ = [
    "Cache",
    "Fonts",
    "FramebufferOutput",
    "MediaError",
    "Options",
    "Painter",
    "Player",
    "PngOutput",
    "Scene",
    "ZoneView",
    "banner",
    "describe",
    "fetch_media",
    "html_lines",
    "raw_pixels",
    "wrap",
    "write_atomic",
    "zone_views",
]
