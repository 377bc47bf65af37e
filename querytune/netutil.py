"""Small network helpers shared by the runtime (the demo's Ray dashboard and Serve ports) and the tests."""
from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on right now (the OS picks it; another process may still take it first)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
