"""The simulator as a real threaded HTTP server.

:class:`SimulatorServer` serves :func:`create_simulator` from a daemon thread, for
tests and demo mode.
"""

import logging
import threading
from typing import Self

from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server

from simulator.constants import DEFAULT_API_VERSION
from simulator.frontend import create_simulator
from simulator.world import GraphWorld

logger = logging.getLogger("ospost.simulator")


class _QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug handler that logs requests at DEBUG instead of on stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug("%s %s -> %s", self.command, self.path, code)


class SimulatorServer:
    """The simulator as a real threaded HTTP server in a daemon thread.

    Use ``with SimulatorServer() as sim:`` or ``start()``/``stop()``; point the app's
    ``FB_ENDPOINT`` at ``sim.graph_url``.
    """

    def __init__(
        self, world: GraphWorld | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.world = world if world is not None else GraphWorld()
        self.host = host
        self.port = port
        self.app = create_simulator(self.world)
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:5001``."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    @property
    def graph_url(self) -> str:
        """Versioned Graph base URL with a trailing slash (the app's FB_ENDPOINT)."""
        return f"{self.url}/{DEFAULT_API_VERSION}/"

    def start(self) -> Self:
        """Start serving (port 0 picks a free port); returns self."""
        if self._server is not None:
            return self
        self._server = make_server(
            self.host,
            self.port,
            self.app,
            threaded=True,
            request_handler=_QuietRequestHandler,
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="graph-simulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port (requests still sleeping are abandoned)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
