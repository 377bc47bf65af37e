"""The ``--local`` server's HTTP settings: what a hostile client can hold, and for how long.

uvicorn's default parser (httptools) takes headers of any size (a 128 MB header cost
13 CPU-seconds), and its keep-alive timer restarts on every byte, so a client that
trickles a header line a second holds its connection forever. ``--local`` therefore
runs h11 with a bound on the request head (``limits.max_header_bytes``, beyond it a
400), a deadline for the whole head (``limits.header_timeout_s``, however slowly it
arrives), a short keep-alive and a cap on connections (``limits.max_connections``,
beyond it a 503).

Ray Serve's proxy runs its own uvicorn; of these it lets us set only
``request_timeout_s`` and ``keep_alive_timeout_s`` (``http_options``).
"""
from __future__ import annotations

from typing import Any

from querytune.serve.config import ServeFile


def uvicorn_options(file: ServeFile) -> dict[str, Any]:
    """Keyword arguments of ``uvicorn.Config`` for the file's server."""
    limits = file.app.args.limits
    return {"host": file.http_options.host, "port": file.http_options.port,
            "http": deadline_protocol(limits.header_timeout_s),
            "h11_max_incomplete_event_size": limits.max_header_bytes,
            "limit_concurrency": limits.max_connections,
            "timeout_keep_alive": file.http_options.keep_alive_timeout_s}


def deadline_protocol(header_timeout_s: float) -> type:
    """uvicorn's h11 protocol, closing a connection whose request head is not complete in time."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeadDeadline(H11Protocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._deadline = self.loop.call_later(header_timeout_s, self._head_overdue)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():  # the next request on this connection gets its own deadline
                self._deadline.cancel()
                self._deadline = self.loop.call_later(header_timeout_s, self._head_overdue)

        def connection_lost(self, exc) -> None:
            self._deadline.cancel()
            super().connection_lost(exc)

        def _head_overdue(self) -> None:
            between_requests = self.cycle is None or self.cycle.response_complete
            if between_requests and self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()  # no complete request line and headers yet: drop it

    return HeadDeadline
