"""uvicorn's HTTP/1.1 protocol with a deadline for each request's head.

uvicorn closes a connection that stays idle after a response (`timeout_keep_alive`), but
not one that opens and then sends its headers slowly or never: hundreds of such
connections stayed open for minutes. This closes a connection that has not sent a whole
request head within HEAD_SECONDS of opening or of the previous response.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_SECONDS = 10.0


class TimedH11Protocol(H11Protocol):
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(HEAD_SECONDS, self._head_timeout)

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            return  # closed already, or upgraded to a websocket
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered: its head arrived in time
        self.transport.close()
