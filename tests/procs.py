"""Real processes for tests: `signage serve` servers, a TCP proxy the test controls, and
logging in over HTTP the way a browser does.

- `Processes` (the `processes` fixture in conftest.py) migrates the database once with the
  CLI, starts servers on free loopback ports and stops every one of them when the test
  ends, whatever happens (terminate, then kill). `Server.kill()` is `kill -9`.
- `Proxy` listens on a loopback port and forwards each connection to the first backend
  that accepts it (a refusing backend is skipped). `cut()` drops every live connection and
  refuses new ones; `pause()` holds data in both directions and new connections until
  `resume()`. Put it in front of PostgreSQL to take the database away from a server
  without touching the shared PostgreSQL server.
- `login()` signs a seeded user in with the CSRF token from the login page; `post_form()`
  posts a form with the token of a page, as the browser does.

A failed start raises with the server's log, so the test failure says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
START_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One `signage serve` process on 127.0.0.1:`port`, its output in `log_path`."""

    def __init__(self, env: dict[str, str], log_path: Path, args: tuple[str, ...] = ()) -> None:
        self.env = env
        self.args = args  # more of `signage serve`'s options, e.g. ("--workers", "2")
        self.port = int(env["SIGNAGE_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> Server:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "signage", "serve", *self.args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_SECONDS
        while not self.healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"server on port {self.port} did not start:\n{self.log()}")
            time.sleep(0.1)
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2):  # noqa: S310
                return True
        except OSError:
            return False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Terminate (the server shuts down cleanly); kill if it does not within 15 s."""
        if self.alive():
            assert self.process is not None
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """`kill -9`: the process gets no chance to clean up (a crash, a pulled plug)."""
        if self.alive():
            assert self.process is not None
            self.process.kill()
            self.process.wait(timeout=15)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Processes:
    """Servers of one test on one database; `close()` stops them all (the fixture calls it)."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        self.database_url = database_url
        self.tmp_path = tmp_path
        self.servers: list[Server] = []
        self.proxies: list[Proxy] = []
        self.migrated = False

    def env(self, **settings: str) -> dict[str, str]:
        """The environment of a server: none of the caller's SIGNAGE_* settings, a data
        folder of its own, a fixed secret key, then `settings` (upper-case names without
        the SIGNAGE_ prefix, e.g. DATABASE_URL=...)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNAGE_")}
        env |= {
            "SIGNAGE_DATABASE_URL": self.database_url,
            "SIGNAGE_HUB_URL": "memory://",
            "SIGNAGE_SECRET_KEY": "test-secret-key",
            "SIGNAGE_LOG_LEVEL": "info",
            "SIGNAGE_VOICE": "false",
        }
        env |= {f"SIGNAGE_{name}": value for name, value in settings.items()}
        return env

    def cli(self, *args: str, stdin: str = "", **settings: str) -> str:
        """Run `signage <args>`; returns its output, raises with it if the command fails."""
        env = self.env(DATA_DIR=str(self.tmp_path / "cli"), **settings)
        done = subprocess.run(
            [sys.executable, "-m", "signage", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"signage {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def serve(self, *args: str, **settings: str) -> Server:
        """Start one more server (`args`: more options of `signage serve`) and wait until
        /healthz answers."""
        if not self.migrated:
            self.cli("migrate")  # once, before servers race to do it
            self.migrated = True
        number = len(self.servers) + 1
        env = self.env(
            DATA_DIR=str(self.tmp_path / f"server{number}"),
            PORT=str(free_port()),
            **settings,
        )
        server = Server(env, self.tmp_path / f"server{number}.log", args)
        self.servers.append(server)
        return server.start()

    def proxy(self, *backends: tuple[str, int]) -> Proxy:
        proxy = Proxy(list(backends))
        self.proxies.append(proxy)
        return proxy.start()

    def logs(self) -> str:
        """Every server's log, for a failure message."""
        return "\n".join(f"--- {s.log_path.name} ---\n{s.log()}" for s in self.servers)

    def close(self) -> None:
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.stop()
        for server in self.servers:
            server.kill()
        for proxy in self.proxies:
            proxy.close()


class Proxy:
    """A TCP proxy on 127.0.0.1 run by an event loop in its own thread."""

    def __init__(self, backends: list[tuple[str, int]]) -> None:
        self.backends = backends
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None
        self.links: set[asyncio.Task[None]] = set()
        self.flowing = asyncio.Event()
        self.connections = 0  # accepted since the start, for tests to check use

    def _call(self, coroutine: object) -> object:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)  # type: ignore[arg-type]

    def start(self) -> Proxy:
        self.thread.start()
        self._call(self._listen())
        return self

    async def _listen(self) -> None:
        self.flowing.set()
        self.server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.links.add(task)
        self.connections += 1
        try:
            await self.flowing.wait()
            for host, port in self.backends:
                try:
                    back_reader, back_writer = await asyncio.open_connection(host, port)
                    break
                except OSError:
                    continue  # refused: the next backend
            else:
                return
            try:
                await asyncio.gather(
                    self._pipe(reader, back_writer), self._pipe(back_reader, writer)
                )
            finally:
                back_writer.close()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self.links.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            await self.flowing.wait()
            writer.write(data)
            await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

    async def _cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for task in list(self.links):
            task.cancel()
        self.flowing.set()

    async def _pause(self) -> None:
        self.flowing.clear()

    async def _resume(self) -> None:
        if self.server is None:
            await self._listen()
        self.flowing.set()

    def cut(self) -> None:
        """Drop every live connection and refuse new ones (the database went away)."""
        self._call(self._cut())

    def pause(self) -> None:
        """Hold new connections and every byte in flight (the network stalls)."""
        self._call(self._pause())

    def resume(self) -> None:
        """Accept and forward again, after `cut()` or `pause()`."""
        self._call(self._resume())

    def close(self) -> None:
        if self.thread.is_alive():
            self._call(self._cut())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        if not self.loop.is_running() and not self.loop.is_closed():
            self.loop.close()

    def postgresql_url(self, database_url: str) -> str:
        """`database_url` (postgresql://user@host:port/name) through this proxy."""
        return re.sub(r"@[^/]+/", f"@127.0.0.1:{self.port}/", database_url, count=1)


def csrf_token(http: httpx.Client, page: str) -> str:
    match = CSRF_FIELD.search(http.get(page).text)
    assert match, f"no CSRF token on {page}"
    return match.group(1)


def post_form(
    http: httpx.Client, path: str, data: dict[str, object], page: str = "/"
) -> httpx.Response:
    """Post a form as a browser does: with the CSRF token of a page of this session."""
    return http.post(path, data={**data, "csrf_token": csrf_token(http, page)})


def login(base_url: str, username: str, password: str) -> httpx.Client:
    """A client signed in as `username`, as a browser does it: the login page sets the
    CSRF cookie and holds the token that the form posts back."""
    http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)
    response = http.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": csrf_token(http, "/login"),
        },
    )
    if response.status_code != 303:
        http.close()
        raise AssertionError(f"login as {username} failed: {response.status_code}")
    return http


@contextlib.contextmanager
def running(database_url: str, tmp_path: Path) -> Iterator[Processes]:
    """Servers and proxies that are all stopped when the block ends."""
    processes = Processes(database_url, tmp_path)
    try:
        yield processes
    finally:
        processes.close()
