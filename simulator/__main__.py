"""``python -m simulator``: run the Graph API simulator as an HTTP server."""

from simulator.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
