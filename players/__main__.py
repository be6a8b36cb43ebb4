"""The headless player's command line.

    python -m players --server http://127.0.0.1:8000 --cache /var/cache/signage \\
        [--token TOKEN] [--output frame.png | --framebuffer /dev/fb0] [--size 1280x720] [--once]

Installed on its own (the `signage-player` wheel, players/distribution.py) the same command
is `signage-player`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from players.headless import Options, Player


def _size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{2,5})x(\d{2,5})", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1280x720, not {text!r}")
    return int(match.group(1)), int(match.group(2))


def _parser() -> argparse.ArgumentParser:
    installed = Path(sys.argv[0]).name == "signage-player"  # the wheel's console script
    parser = argparse.ArgumentParser(
        prog="signage-player" if installed else "python -m players",
        description="The headless signage player: plays a screen's content into a PNG file "
        "or a Linux framebuffer.",
    )
    parser.add_argument("--server", required=True, help="the CMS address, e.g. http://cms:8000")
    parser.add_argument(
        "--cache", required=True, type=Path, help="folder for the token, manifest and media"
    )
    parser.add_argument("--token", help="the device token (default: the one in the cache)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--output", type=Path, help="PNG file to write (default: CACHE/frame.png)")
    out.add_argument("--framebuffer", type=Path, help="framebuffer device, e.g. /dev/fb0")
    parser.add_argument(
        "--size", type=_size, default=(1280, 720), help="frame size (default: 1280x720)"
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="draw one frame from the cache, print what each zone shows, and exit",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log more")
    return parser


async def _play(player: Player) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, player.request_stop)
    await player.run()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        options = Options(
            server=args.server,
            cache=args.cache,
            token=args.token,
            output=args.output,
            framebuffer=args.framebuffer,
            size=args.size,
        )
        player = Player(options)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.once:
        player.render()
        for zone, showing in player.playing.items():
            print(f"{zone}: {showing}")
        if not player.playing:
            print("nothing cached yet: not paired")
        return 0
    asyncio.run(_play(player))
    return 0


if __name__ == "__main__":
    sys.exit(main())
