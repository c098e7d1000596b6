"""
The sandbox's memory: accounts, balance, the requests it received and the faults it should play.

Thread-safe, because tests read and steer it from another thread than the server's event loop.
"""

from __future__ import annotations

import codecs
import math
import re
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

DEFAULT_TOKEN = "sandbox-token"
DEFAULT_BALANCE = Decimal("100.000")
VOICE_PRICE_PER_CALL = Decimal("0.216")
SMS_PRICE_PER_PART = Decimal("0.026")
DEFAULT_SENDERS = ({"senderName": "Taqnyat.sa", "status": "active"},)
OPERATIONAL_DESCRIPTION = "All Services are Operational"

ENDPOINTS = ("status", "voice", "balance", "sms", "senders", "delete", "any")
FAULT_KINDS = frozenset(
    {
        "429",
        "503",
        "500",
        "502",
        "504",
        "drop",
        "hang",
        "garbage",
        "empty",
        "degraded",
        "long",
        "whitespace",
        "non_utf8",
    }
)
RATE_LIMIT_FAULT = "rate_limit"
"""The ``fault`` recorded on a request the rate limit answered with 429."""
_JSON_WHITESPACE = frozenset(" \t\n\r")
_MAX_BODY_SIZE = 64 * 1024 * 1024
_RATE_LIMIT = re.compile(r"\s*([0-9]+)\s*/\s*([0-9]+(?:\.[0-9]+)?)?\s*(s|sec|m|min|h)?(\s+sliding)?\s*")
_UNIT_SECONDS = {None: 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class RateLimit:
    """
    At most ``requests`` API requests per token per ``window`` seconds.

    Written ``100/60s`` (Taqnyat's published limit per connection), ``100/1m``, ``5/s`` or ``5/2.5s``:
    a fixed window, as most API gateways count, which the token's first request opens and which
    resets ``window`` seconds later, every slot at once. ``100/60s sliding`` counts in any
    ``window`` seconds instead (stricter: no burst across a reset; slots free one by one).
    """

    requests: int
    window: float
    sliding: bool = False

    def __post_init__(self) -> None:
        if self.requests < 1 or not (0 < self.window < math.inf):
            raise ValueError(f"A rate limit needs at least 1 request in a positive window, got {self}")

    @classmethod
    def parse(cls, value: RateLimit | str) -> RateLimit:
        if isinstance(value, RateLimit):
            return value
        match = _RATE_LIMIT.fullmatch(str(value))
        if not match:
            raise ValueError(f"Rate limit {value!r} is not like 100/60s or 100/60s sliding")
        requests, amount, unit, sliding = match.groups()
        return cls(int(requests), float(amount or 1) * _UNIT_SECONDS[unit], sliding=bool(sliding))

    def __str__(self) -> str:
        return f"{self.requests}/{self.window:g}s" + (" sliding" if self.sliding else "")


@dataclass
class Fault:
    """
    What to answer instead of the normal response, ``times`` times, on ``endpoint``, once ``skip``
    matching requests were answered normally (a fault in the middle of a multi-batch send).

    ``kind`` is ``error:<code>`` (a documented API error), ``429``/``503`` (with ``retry_after``),
    ``500``/``502``/``504`` (an HTML error page), ``drop`` (close the connection without an answer),
    ``hang`` (answer only after ``seconds``), ``garbage`` or ``empty`` (a 2xx body nobody can read),
    or ``degraded`` (a status answer naming an affected service).

    Three more play after the work was done, on the normal answer (status code kept): ``long``
    pads its JSON to ``size`` bytes with ``filler`` whitespace between tokens (still valid JSON),
    ``whitespace`` replaces it with ``size`` bytes of ``filler``, and ``non_utf8`` re-encodes it in
    ``encoding`` (windows-1256 by default, as a legacy Arabic backend would) with an Arabic ``Note``
    field first, so that the body is never valid UTF-8.

    ``retry_after`` is sent verbatim (``"2"``, ``"²"``, an HTTP date); ``None`` sends no header:
    a 503 with it is the API asking to come back, a 503 without it a proxy's "upstream reset".
    """

    kind: str
    endpoint: str = "any"
    times: int = 1
    retry_after: str | None = "0"
    seconds: float = 30.0
    skip: int = 0
    size: int = 1_000_000
    filler: str = "\n"
    encoding: str = "cp1256"

    def __post_init__(self) -> None:
        if self.endpoint not in ENDPOINTS:
            raise ValueError(f"Unknown fault endpoint {self.endpoint!r}; use one of {', '.join(ENDPOINTS)}")
        if not (self.kind in FAULT_KINDS or (self.kind.startswith("error:") and self.kind[6:].isdigit())):
            raise ValueError(
                f"Unknown fault kind {self.kind!r}; use error:<code> or one of {sorted(FAULT_KINDS)}"
            )
        if self.times < 1:
            raise ValueError(f"Fault times must be at least 1, got {self.times}")
        if isinstance(self.retry_after, (int, float)) and not isinstance(self.retry_after, bool):
            self.retry_after = f"{self.retry_after:g}"
        if self.retry_after is not None and not isinstance(self.retry_after, str):
            raise ValueError(f"Fault retry_after must be text or a number, got {self.retry_after!r}")
        if (
            isinstance(self.size, bool)
            or not isinstance(self.size, int)
            or not 0 <= self.size <= _MAX_BODY_SIZE
        ):
            raise ValueError(f"Fault size must be 0 to {_MAX_BODY_SIZE} bytes, got {self.size!r}")
        if not self.filler or not isinstance(self.filler, str) or set(self.filler) - _JSON_WHITESPACE:
            raise ValueError(
                f"Fault filler must be JSON whitespace (space, tab, CR, LF), got {self.filler!r}"
            )
        try:
            name = codecs.lookup(self.encoding).name
        except (LookupError, TypeError):
            raise ValueError(f"Unknown fault encoding {self.encoding!r}") from None
        if name.startswith("utf-8") or name == "ascii":
            raise ValueError(f"Fault encoding {self.encoding!r} would give valid UTF-8; use e.g. cp1256")

    @property
    def error_code(self) -> int | None:
        return int(self.kind[6:]) if self.kind.startswith("error:") else None


@dataclass
class RecordedRequest:
    method: str
    path: str
    endpoint: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    auth: str
    client_port: int | None = None
    received_at: float = field(default_factory=time.time)
    status: int | None = None
    fault: str | None = None
    processed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SandboxState:
    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        balance: Decimal = DEFAULT_BALANCE,
        rate_limit: RateLimit | str | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self.token = token
        self._initial_balance = Decimal(balance)
        # reset() comes back to the limit the server was started with (the CLI's --rate-limit).
        self._initial_rate_limit = None if rate_limit is None else RateLimit.parse(rate_limit)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.balance = self._initial_balance
            self.requests: list[RecordedRequest] = []
            self.faults: list[Fault] = []
            self.status_service = "none"
            self.status_description = OPERATIONAL_DESCRIPTION
            self.unreachable: set[str] = set()
            self.calls: list[dict[str, Any]] = []
            self.messages: list[dict[str, Any]] = []
            self.senders: list[dict[str, Any]] = [dict(sender) for sender in DEFAULT_SENDERS]
            self._next_message_id = 5452899970
            self.rate_limit: RateLimit | None = self._initial_rate_limit
            # When each request the limit let through arrived (monotonic clock), oldest first.
            self._admitted: deque[float] = deque()

    # -- steering ---------------------------------------------------------------------------------

    def inject(self, kind: str, endpoint: str = "any", times: int = 1, **options: Any) -> Fault:
        fault = Fault(kind=kind, endpoint=endpoint, times=times, **options)
        with self._lock:
            self.faults.append(fault)
        return fault

    def set_status(self, service: str = "none", description: str = OPERATIONAL_DESCRIPTION) -> None:
        with self._lock:
            self.status_service, self.status_description = service, description

    def degrade(self, service: str = "voice", description: str | None = None) -> None:
        self.set_status(service, description or f"{service.capitalize()} service is degraded")

    def set_balance(self, balance: Decimal | str | float) -> None:
        with self._lock:
            self.balance = Decimal(str(balance))

    def set_unreachable(self, numbers: Iterable[str]) -> None:
        with self._lock:
            self.unreachable = {str(number) for number in numbers}

    def set_senders(self, senders: Iterable[dict[str, Any] | str]) -> None:
        """The account's sender names: ``{"senderName": ..., "status": ...}`` or bare active names."""
        with self._lock:
            self.senders = [
                dict(sender) if isinstance(sender, dict) else {"senderName": sender, "status": "active"}
                for sender in senders
            ]

    def set_rate_limit(self, limit: RateLimit | str | None) -> RateLimit | None:
        """Limit the token's API requests (``"100/60s"``), or lift the limit with None; starts a new window."""
        parsed = None if limit is None else RateLimit.parse(limit)
        with self._lock:
            self.rate_limit = parsed
            self._admitted.clear()
        return parsed

    # -- used by the server -----------------------------------------------------------------------

    def admit(self, now: float | None = None) -> float | None:
        """
        Count one request of the token against the rate limit, as an API gateway does.

        Returns None when it may go on, else the seconds until a slot frees: when the fixed window
        resets, or when the oldest request leaves a sliding one. Refused requests take no slot, so
        a client that waits as told finds one (with a fixed window, every client that was refused
        finds one, as long as no more than ``requests`` of them came back at once).
        """
        with self._lock:
            limit = self.rate_limit
            if limit is None:
                return None
            now = time.monotonic() if now is None else now
            if limit.sliding:
                while self._admitted and self._admitted[0] <= now - limit.window:
                    self._admitted.popleft()
            elif self._admitted and self._admitted[0] <= now - limit.window:
                self._admitted.clear()  # the window is over: the next request opens a new one
            if len(self._admitted) < limit.requests:
                self._admitted.append(now)
                return None
            return self._admitted[0] + limit.window - now

    def take_fault(self, endpoint: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.endpoint in (endpoint, "any"):
                    if fault.skip > 0:
                        fault.skip -= 1
                        return None
                    fault.times -= 1
                    if fault.times == 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def next_message_id(self) -> int:
        with self._lock:
            self._next_message_id += 1
            return self._next_message_id

    def charge(self, amount: Decimal) -> str | None:
        """Take ``amount`` from the balance; return 'empty' or 'short' when it cannot be paid."""
        with self._lock:
            if self.balance <= 0:
                return "empty"
            if amount > self.balance:
                return "short"
            self.balance -= amount
            return None

    def cancel_scheduled(self, delete_id: str) -> bool:
        """Cancel the scheduled SMS sent with ``delete_id`` and refund them; False when there is none."""
        with self._lock:
            found = [
                message
                for message in self.messages
                if message["scheduled_at"]
                and str(message["delete_id"]) == delete_id
                and not message["cancelled"]
            ]
            for message in found:
                message["cancelled"] = True
                self.balance += Decimal(message["cost"])
            return bool(found)

    # -- reading ----------------------------------------------------------------------------------

    def received(self, endpoint: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if endpoint is None or r.endpoint == endpoint]

    def called_numbers(self) -> list[str]:
        """Every number a voice call went out to, once per call placed."""
        with self._lock:
            return [number for call in self.calls for number in call["accepted"]]

    def texted_numbers(self) -> list[str]:
        """Every number an SMS went (or is scheduled) to, once per message, cancelled ones left out."""
        with self._lock:
            return [
                number
                for message in self.messages
                if not message["cancelled"]
                for number in message["accepted"]
            ]

    def rate_limited(self) -> list[RecordedRequest]:
        """The requests the rate limit answered with 429."""
        with self._lock:
            return [r for r in self.requests if r.fault == RATE_LIMIT_FAULT]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "balance": str(self.balance),
                "rate_limit": None if self.rate_limit is None else str(self.rate_limit),
                "status": {"service": self.status_service, "description": self.status_description},
                "requests": [r.to_dict() for r in self.requests],
                "calls": list(self.calls),
                "messages": list(self.messages),
                "pending_faults": [asdict(fault) for fault in self.faults],
            }
