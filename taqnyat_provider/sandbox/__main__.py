"""``taqnyat-sandbox``: serve the sandbox until interrupted."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path

from taqnyat_provider.sandbox.state import DEFAULT_BALANCE, DEFAULT_TOKEN

TOKEN_ENV = "TAQNYAT_SANDBOX_TOKEN"
DEFAULT_PORT = 8475
"""Clashes with no Airflow component's default: the api-server and 2.x webserver (8080), Flower
(5555), the worker and triggerer log servers (8793, 8794), the scheduler's health check (8974)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="taqnyat-sandbox", description="A local stand-in for the Taqnyat API."
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port; 0 picks a free one (default {DEFAULT_PORT})"
    )
    parser.add_argument("--balance", default=str(DEFAULT_BALANCE), help="starting balance in SAR")
    parser.add_argument(
        "--port-file", type=Path, help="write the port here once listening (useful with --port 0)"
    )
    parser.add_argument(
        "--rate-limit",
        metavar="N/WINDOW",
        help="answer the token's requests beyond N per WINDOW with 429 and Retry-After, e.g. 100/60s"
        " (a fixed window; '100/60s sliding' counts in any 60 s)",
    )
    args = parser.parse_args(argv)
    # The token comes from the environment, never the command line: argv is visible to every user.
    token = os.environ.get(TOKEN_ENV) or DEFAULT_TOKEN

    from taqnyat_provider.sandbox.loopback import is_loopback_host
    from taqnyat_provider.sandbox.state import RateLimit

    if not is_loopback_host(args.host):
        parser.error(f"--host {args.host} is not a loopback address; the sandbox serves loopback only")
    try:
        rate_limit = RateLimit.parse(args.rate_limit) if args.rate_limit else None
    except ValueError as error:
        parser.error(f"--rate-limit: {error}")

    # aiohttp loads only once the arguments are known to be good: --help and mistakes answer fast.
    from taqnyat_provider.sandbox.server import SandboxServer

    server = SandboxServer(
        token=token,
        balance=Decimal(args.balance),
        host=args.host,
        port=args.port,
        console=sys.stdout,
        rate_limit=rate_limit,
    )
    server.start()
    if args.port_file:
        args.port_file.write_text(str(server.port))
    limit = f", rate limit {rate_limit} per token" if rate_limit else ""
    print(
        f"[taqnyat-sandbox] listening on {server.base_url} (token from ${TOKEN_ENV}"
        f"{'' if os.environ.get(TOKEN_ENV) else f' unset: the default {DEFAULT_TOKEN!r}'}{limit})",
        flush=True,
    )
    stopping = {"flag": False}

    def _stop(signum: int, frame: object) -> None:
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stopping["flag"]:
        signal.pause()
    server.stop()
    print("[taqnyat-sandbox] stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
