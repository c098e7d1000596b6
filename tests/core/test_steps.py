from __future__ import annotations

import asyncio

import pytest

from taqnyat_provider.core.steps import Call, Wait, adrive, drive


def script():
    """A generator of steps that records what came back, including exceptions thrown in."""
    seen = []
    try:
        seen.append((yield Wait(0)))
        seen.append((yield Call(lambda: "called")))
        try:
            yield Call(lambda: 1 / 0)
        except ZeroDivisionError as error:
            seen.append(type(error).__name__)
    finally:
        seen.append("finally")
    return seen


def perform(step):
    return step.function() if isinstance(step, Call) else "waited"


def test_drive_sends_results_and_throws_exceptions_in():
    assert drive(script(), perform) == ["waited", "called", "ZeroDivisionError", "finally"]


def test_adrive_does_the_same_with_awaitable_steps():
    async def aperform(step):
        await asyncio.sleep(0)
        return perform(step)

    assert asyncio.run(adrive(script(), aperform)) == ["waited", "called", "ZeroDivisionError", "finally"]


def test_an_exception_the_generator_does_not_handle_reaches_the_caller():
    def one():
        yield Call(lambda: None)

    def boom(step):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        drive(one(), boom)
