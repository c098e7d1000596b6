"""
The protocol between the pure core and the transports: steps, and the loops that drive them.

The retry rules (:mod:`~taqnyat_provider.core.retry`) and the delivery engine
(:mod:`~taqnyat_provider.core.delivery`) are generators. They yield what must happen next — send a
:class:`Request`, :class:`Wait`, or run a :class:`Call` (a send-ledger read or write) — and receive
its result, or have its exception thrown in at that point, so a crash, a timeout or a signal in the
middle of a send reaches the code that must record it. A hook only says how to perform each step
(``requests`` and ``time.sleep``, or ``aiohttp`` and ``asyncio.sleep``): :func:`adrive` drives the
steps for the async hook and :func:`drive`, the same loop written without a coroutine, for the sync
hook. The same two loops drive the audio preflight (:func:`taqnyat_provider.core.audio_check.check`),
whose steps are probes of the audio host (``Probe``): the loops take any step type. No I/O, no
Airflow and no HTTP library here.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
S = TypeVar("S")


class Failure(enum.Enum):
    """How a request failed, from the point of view of "did the server get it?"."""

    NOT_CONNECTED = "could not connect (refused, name resolution, connect timeout, TLS handshake)"
    TIMED_OUT = "no answer before the timeout"
    DROPPED = "connection dropped before an answer"
    HTTP_STATUS = "HTTP error status"


class TransportError(Exception):
    """What a transport raises for a request that got no HTTP answer, already classified."""

    def __init__(self, failure: Failure, detail: str):
        self.failure = failure
        self.detail = detail
        super().__init__(f"{failure.value} ({detail})")


@dataclass(frozen=True)
class Request:
    """One API call as the transports make it: ``json`` and ``params`` are sent as they are."""

    method: str
    endpoint: str
    json: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    authenticated: bool = True

    @property
    def is_send(self) -> bool:
        return self.method.upper() != "GET"


@dataclass(frozen=True)
class Answer:
    """An HTTP answer as both transports return it: status, headers (case-insensitive) and body."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    body: bytes = b""


@dataclass(frozen=True)
class Wait:
    """Sleep this long before the next step (``time.sleep`` or ``asyncio.sleep``)."""

    seconds: float


@dataclass(frozen=True)
class Call:
    """
    Run a call (a send-ledger read or write): directly, or in a thread off the event loop.

    ``blocking=False`` says the call does no I/O (the in-memory ledger): an event loop runs it in
    place rather than paying a thread hop for a dict update.
    """

    function: Callable[[], Any]
    blocking: bool = True


Step = Request | Wait | Call
Steps = Generator[Step, Any, T]


async def adrive(steps: Generator[S, Any, T], perform: Callable[[S], Awaitable[Any]]) -> T:
    """Perform each step the generator yields until it returns; exceptions go back into it."""
    try:
        step = next(steps)
        while True:
            try:
                result = await perform(step)
            except BaseException as error:
                step = steps.throw(error)
            else:
                step = steps.send(result)
    except StopIteration as done:
        return done.value


def drive(steps: Generator[S, Any, T], perform: Callable[[S], Any]) -> T:
    """
    :func:`adrive` for synchronous steps: the same loop, line for line, without a coroutine.

    A sync hook runs it for every call, so it does not pay for a coroutine per step.
    """
    try:
        step = next(steps)
        while True:
            try:
                result = perform(step)
            except BaseException as error:
                step = steps.throw(error)
            else:
                step = steps.send(result)
    except StopIteration as done:
        return done.value
