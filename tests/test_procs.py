"""The process harness itself (tests/procs.py): servers start and stop, the proxy forwards
to a live backend and can be cut and resumed."""

from __future__ import annotations

import httpx2 as httpx
import pytest

from .procs import Processes, free_port


def test_proxy_skips_a_refusing_backend_and_can_be_cut(processes: Processes) -> None:
    server = processes.serve()
    proxy = processes.proxy(("127.0.0.1", free_port()), ("127.0.0.1", server.port))
    through = f"http://127.0.0.1:{proxy.port}"
    assert httpx.get(through + "/healthz", timeout=5).json() == {"status": "ok"}
    proxy.cut()
    with pytest.raises(httpx.TransportError):
        httpx.get(through + "/healthz", timeout=5)
    proxy.resume()
    assert httpx.get(through + "/healthz", timeout=5).status_code == 200
    proxy.pause()
    with pytest.raises(httpx.TimeoutException):
        httpx.get(through + "/healthz", timeout=1)
    proxy.resume()
    assert httpx.get(through + "/healthz", timeout=5).status_code == 200
    server.kill()
    assert not server.alive()
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url + "/healthz", timeout=5)
