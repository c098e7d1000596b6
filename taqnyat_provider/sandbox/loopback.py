"""Whether a host name is loopback: the sandbox's own check, so that it imports nothing of the client."""

from __future__ import annotations

import ipaddress


def is_loopback_host(hostname: str | None) -> bool:
    """``localhost`` itself or a literal loopback address (``127.0.0.0/8``, ``::1``); never a name to resolve."""
    if not hostname:
        return False
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False
