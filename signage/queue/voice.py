"""The chime and the spoken call, made on this machine with no online service.

Japanese is spoken by Open JTalk (the `pyopenjtalk-plus` package of the `voice` extra,
which carries its dictionary and voice), run in a worker process of its own because it
holds the GIL while it speaks; without that package Japanese is not spoken by the server
(espeak-ng's Japanese cannot read kanji). Other languages are spoken by Debian's
`espeak-ng`, when installed. A language without an engine is not spoken by the server;
screens may still say it with a voice of their own browser (the call carries its text).
The chime is drawn here as two tones.

Clips are WAV files named by the SHA-256 of engine, language and text, kept in the media
folder: a number or a counter is spoken once, then only played.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import json
import logging
import math
import os
import secrets
import shutil
import struct
import sys
import wave
from pathlib import Path

from content.announcements import PHRASES, counter_part, number_part, sentence
from content.protocol import AudioClip

log = logging.getLogger("signage.queue.voice")
CHIME_RATE = 24000
SPEECH_SECONDS_LIMIT = 30.0


def _write_wav(path: Path, rate: int, samples: bytes) -> None:
    """Write 16-bit mono PCM atomically: a screen never fetches half a file. The temporary
    name is this writer's own, so two writers of one clip (two apps in one process, two
    processes) never replace each other's half-written file."""
    temporary = path.with_suffix(f".{os.getpid()}.{secrets.token_hex(4)}.tmp")
    with wave.open(str(temporary), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples)
    temporary.replace(path)


def chime_samples(rate: int = CHIME_RATE) -> bytes:
    """A two-tone "pin-pon" (E5 then C5) with a bell-like decay."""
    frames = bytearray()
    for frequency, length in ((659.25, 0.55), (523.25, 1.1)):
        count = int(rate * length)
        for i in range(count):
            t = i / rate
            envelope = math.exp(-3.2 * t) * min(1.0, i / (rate * 0.01))
            value = math.sin(2 * math.pi * frequency * t) + 0.3 * math.sin(
                4 * math.pi * frequency * t
            )
            frames += struct.pack("<h", int(11000 * envelope * value))
    return bytes(frames)


def alarm_samples(rate: int = CHIME_RATE) -> bytes:
    """The alert alarm, unlike the chime: a hard two-tone warble (988 and 740 Hz, a quarter
    second each, four times), with a short fade at each edge so it never clicks."""
    frames = bytearray()
    edge = int(rate * 0.005)
    for _ in range(4):
        for frequency in (987.77, 739.99):
            count = int(rate * 0.25)
            for i in range(count):
                t = i / rate
                envelope = min(1.0, i / edge, (count - i) / edge)
                value = math.sin(2 * math.pi * frequency * t) + 0.35 * math.sin(
                    6 * math.pi * frequency * t
                )
                frames += struct.pack("<h", int(12000 * envelope * value))
    return bytes(frames)


class _JapaneseWorker:
    """One `python -m signage.queue.voice_worker` process, asked one sentence at a time."""

    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self._stopped: list[asyncio.subprocess.Process] = []
        self._lock = asyncio.Lock()

    async def _started(self) -> asyncio.subprocess.Process:
        if self._process is None or self._process.returncode is not None:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "signage.queue.voice_worker",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
        return self._process

    async def speak(self, text: str, out: Path) -> bool:
        async with self._lock:
            process = await self._started()
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(json.dumps({"text": text, "out": str(out)}).encode() + b"\n")
                await process.stdin.drain()
                line = await asyncio.wait_for(process.stdout.readline(), SPEECH_SECONDS_LIMIT)
            except (OSError, TimeoutError, asyncio.CancelledError):
                self._stop(process)
                return False
            if not line:
                self._stop(process)
                return False
            return bool(json.loads(line).get("ok"))

    def _stop(self, process: asyncio.subprocess.Process) -> None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        self._stopped.append(process)  # reaped by close()
        self._process = None

    async def close(self) -> None:
        processes = [*self._stopped, *([self._process] if self._process else [])]
        self._process, self._stopped = None, []
        for process in processes:
            if process.stdin is not None:
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 3)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()


def openjtalk_installed() -> bool:
    return importlib.util.find_spec("pyopenjtalk") is not None


def espeak_path() -> str | None:
    return shutil.which("espeak-ng")


class Voice:
    """Makes and keeps the clips of calls; `enabled=False` gives the chime only."""

    def __init__(self, folder: Path, *, enabled: bool = True) -> None:
        self.folder = folder
        self.enabled = enabled
        self._japanese = _JapaneseWorker()
        self._espeak = espeak_path() if enabled else None
        self._openjtalk = enabled and openjtalk_installed()
        self._chime: str | None = None
        self._alarm: str | None = None
        self._making: dict[str, asyncio.Future[bool]] = {}

    def engine(self, language: str) -> str | None:
        """Which engine speaks `language` here, or None."""
        if not self.enabled or language not in PHRASES:
            return None
        if language == "ja" and self._openjtalk:
            return "openjtalk"
        return "espeak-ng" if self._espeak and PHRASES[language].espeak_voice else None

    def chime(self) -> str:
        if self._chime is None:
            samples = chime_samples()
            name = "chime-" + hashlib.sha256(samples).hexdigest()[:24] + ".wav"
            path = self.folder / name
            if not path.is_file():
                self.folder.mkdir(parents=True, exist_ok=True)
                _write_wav(path, CHIME_RATE, samples)
            self._chime = name
        return self._chime

    def alarm(self) -> str:
        """The alert alarm's file (made once)."""
        if self._alarm is None:
            samples = alarm_samples()
            name = "alarm-" + hashlib.sha256(samples).hexdigest()[:24] + ".wav"
            path = self.folder / name
            if not path.is_file():
                self.folder.mkdir(parents=True, exist_ok=True)
                _write_wav(path, CHIME_RATE, samples)
            self._alarm = name
        return self._alarm

    def kept(self, language: str, text: str) -> str | None:
        """The clip saying `text` if it is already made; never makes one."""
        engine = self.engine(language)
        if engine is None:
            return None
        name = self._name(engine, language, text)
        return name if (self.folder / name).is_file() else None

    def _name(self, engine: str, language: str, text: str) -> str:
        digest = hashlib.sha256(f"{engine}\n{language}\n{text}".encode()).hexdigest()
        return f"{language}-{digest[:32]}.wav"

    async def clip(self, language: str, text: str) -> str | None:
        """The file saying `text` in `language`, made now if it is not kept yet."""
        engine = self.engine(language)
        if engine is None:
            return None
        name = self._name(engine, language, text)
        path = self.folder / name
        if path.is_file():
            return name
        making = self._making.get(name)
        if making is None:
            making = asyncio.ensure_future(self._make(engine, language, text, path))
            self._making[name] = making
            making.add_done_callback(lambda _: self._making.pop(name, None))
        try:
            made = await asyncio.shield(making)
        except Exception:
            log.exception("could not speak %r in %s", text, language)
            return None
        return name if made else None

    async def _make(self, engine: str, language: str, text: str, path: Path) -> bool:
        self.folder.mkdir(parents=True, exist_ok=True)
        if engine == "openjtalk":
            return await self._japanese.speak(text, path)
        espeak_voice = PHRASES[language].espeak_voice
        assert self._espeak is not None and espeak_voice is not None
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        process = await asyncio.create_subprocess_exec(
            self._espeak,
            "-v",
            espeak_voice,
            "-s",
            "145",
            "-w",
            str(temporary),
            "--",
            text,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            code = await asyncio.wait_for(process.wait(), SPEECH_SECONDS_LIMIT)
        except (TimeoutError, asyncio.CancelledError):
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            temporary.unlink(missing_ok=True)
            return False
        if code != 0 or not temporary.is_file():
            temporary.unlink(missing_ok=True)
            return False
        temporary.replace(path)
        return True

    async def prepare_counter(self, counter: int, languages: tuple[str, ...]) -> None:
        """Speak a counter's part ahead of its first call."""
        for language in languages:
            if language in PHRASES:
                await self.clip(language, counter_part(language, counter))

    async def prepare(self, prefix: str, number: int, languages: tuple[str, ...]) -> None:
        """Speak a ticket's number ahead of its call."""
        for language in languages:
            if language in PHRASES:
                await self.clip(language, number_part(language, prefix, number))

    async def call_audio(
        self, prefix: str, number: int, counter: int, languages: tuple[str, ...]
    ) -> tuple[list[AudioClip], dict[str, str]]:
        """What a screen plays for a call, in order (the chime, then each language's
        number and counter), and the whole sentence in each language as text."""
        audio: list[AudioClip] = [{"file": self.chime(), "part": "chime"}]
        texts: dict[str, str] = {}
        for language in languages:
            if language not in PHRASES:
                continue
            texts[language] = sentence(language, prefix, number, counter)
            parts = [
                await self.clip(language, number_part(language, prefix, number)),
                await self.clip(language, counter_part(language, counter)),
            ]
            if all(parts):
                audio.extend(AudioClip(file=str(p), language=language) for p in parts)
        return audio, texts

    async def close(self) -> None:
        """Stop what is being spoken and the Japanese worker (the server is stopping)."""
        for making in list(self._making.values()):
            making.cancel()
        for making in list(self._making.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await making
        await self._japanese.close()
