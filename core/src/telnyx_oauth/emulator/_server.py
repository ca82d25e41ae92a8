"""Serve an ASGI app with uvicorn on a real loopback socket, in a daemon thread.

The socket is bound here, before the thread starts, so port 0 resolves to a free port whose number
is known at once. Uvicorn's own main loop polls its exit flag every 0.1 s; this one waits on an
event instead, so `stop()` does not pay that poll (a suite starts and stops hundreds of emulators).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading

import uvicorn
from starlette.types import ASGIApp

_START_TIMEOUT_SECONDS = 10.0
_STOP_TIMEOUT_SECONDS = 5.0


class _Server(uvicorn.Server):
    """A uvicorn server that reports readiness and wakes up at once when asked to exit."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        try:
            await super().startup(sockets=sockets)
        finally:
            self.ready.set()

    async def main_loop(self) -> None:
        wake = self._wake or asyncio.Event()
        counter = 0
        # on_tick refreshes the Date header every 10th tick, so tick once a second.
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864_000
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=1.0)

    def request_exit(self) -> None:
        """Ask the server to stop, from any thread."""
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(wake.set)


class ServerThread:
    """One uvicorn server on one bound socket, in a daemon thread."""

    def __init__(self, app: ASGIApp, host: str, port: int, *, access_log: bool = False) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._access_log = access_log
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> int:
        """Bind, start serving, wait until the server accepts, and return the bound port.

        Raises:
            OSError: the address cannot be bound (e.g. the port is taken).
            RuntimeError: the server did not start.
        """
        family, kind, proto, _, address = socket.getaddrinfo(
            self._host, self._port, type=socket.SOCK_STREAM
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
        except OSError:
            sock.close()
            raise
        port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self._app,
            log_config=None,
            access_log=self._access_log,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=1,
        )
        server = _Server(config)
        self._server = server

        def run() -> None:
            try:
                server.run(sockets=[sock])
            except BaseException as exc:  # reported to start() and stop()
                self._error = exc
            finally:
                server.ready.set()
                sock.close()

        self._thread = threading.Thread(target=run, name=f"telnyx-emulator:{port}", daemon=True)
        self._thread.start()
        if not server.ready.wait(_START_TIMEOUT_SECONDS) or not server.started:
            self.stop()
            msg = f"The Telnyx emulator did not start on {self._host}:{port}."
            raise RuntimeError(msg) from self._error
        return port

    def stop(self) -> None:
        """Stop serving and wait for the thread; idempotent."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.request_exit()
        thread.join(_STOP_TIMEOUT_SECONDS)
        if thread.is_alive():
            server.force_exit = True
            thread.join(_STOP_TIMEOUT_SECONDS)
        self._server = self._thread = None
