"""A worker process that speaks Japanese with Open JTalk (see `signage.queue.voice`).

It reads one JSON request a line on stdin ({"text": ..., "out": path}) and answers one
line on stdout ({"ok": true}). It runs apart from the server because the engine holds the
GIL while it speaks, which would stall every websocket for a fifth of a second.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import wave
from pathlib import Path
from typing import Any

RATE = 24000  # the engine speaks at 48 kHz; half of it is plenty for a voice


def _speak(engine: Any, text: str, out: Path) -> None:
    import numpy as np

    samples, rate = engine.tts(text)
    pcm = np.asarray(samples, dtype=np.float64)
    if rate == 2 * RATE:
        pcm = pcm[: len(pcm) // 2 * 2].reshape(-1, 2).mean(axis=1)  # average pairs, then halve
        rate = RATE
    data = np.clip(pcm, -32768, 32767).astype("<i2").tobytes()
    temporary = out.with_suffix(f".{os.getpid()}.tmp")
    with wave.open(str(temporary), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(int(rate))
        wav.writeframes(data)
    temporary.replace(out)


def main() -> None:
    # The engine prints notices on import; keep the answer channel clean.
    with contextlib.redirect_stdout(io.StringIO()):
        import pyopenjtalk

        pyopenjtalk.g2p("準備")
    for line in sys.stdin:
        try:
            request = json.loads(line)
            with contextlib.redirect_stdout(io.StringIO()):
                _speak(pyopenjtalk, str(request["text"]), Path(request["out"]))
            answer: dict[str, object] = {"ok": True}
        except Exception as exc:  # one bad request must not end the worker
            answer = {"ok": False, "error": str(exc)[:200]}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
