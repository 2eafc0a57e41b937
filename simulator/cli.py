"""The command line: ``python -m simulator --port 5001``.

It serves a fresh world until SIGTERM or SIGINT.
"""

import argparse
import logging
import signal
import threading

from simulator.constants import DEFAULT_APP_ID
from simulator.constants import DEFAULT_APP_SECRET
from simulator.server import SimulatorServer
from simulator.world import GraphWorld

logger = logging.getLogger("ospost.simulator")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m simulator", description="Instagram Graph API simulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--app-id", default=DEFAULT_APP_ID)
    parser.add_argument("--app-secret", default=DEFAULT_APP_SECRET)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--ready-after", type=float, default=2.0)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--quota-total", type=int, default=100)
    parser.add_argument("--seed", type=int, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the simulator until SIGTERM/SIGINT."""
    args = _parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    world = GraphWorld(
        args.app_id,
        args.app_secret,
        latency_ms=args.latency_ms,
        container_ready_after=args.ready_after,
        fail_rate=args.fail_rate,
        quota_total=args.quota_total,
        seed=args.seed,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with SimulatorServer(world, args.host, args.port) as server:
        logger.info(
            "Graph API simulator listening on %s (FB_ENDPOINT %s, app id %s)",
            server.url,
            server.graph_url,
            world.app_id,
        )
        while not stop.wait(0.5):
            pass
    logger.info("Graph API simulator stopped")
    return 0
