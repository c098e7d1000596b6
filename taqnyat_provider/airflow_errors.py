"""
Where the provider's plain errors meet Airflow's retry semantics.

The core raises :class:`~taqnyat_provider.core.errors.TaqnyatError` subclasses that say whether
another try may cure them (``retryable``). Airflow only knows ``AirflowFailException`` (fail now)
and any other exception (retry while retries remain), so the operators and the sensor run their
work inside :func:`airflow_semantics`, which re-raises each error as the one Airflow acts on, with
the original chained as its cause (the task log shows both).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from taqnyat_provider.core.errors import TaqnyatError


def to_airflow(error: TaqnyatError) -> AirflowException:
    """The Airflow exception that makes Airflow do what ``error`` says: retry or fail now."""
    kind = AirflowException if error.retryable else AirflowFailException
    return kind(f"{type(error).__name__}: {error}")


@contextmanager
def airflow_semantics() -> Iterator[None]:
    try:
        yield
    except TaqnyatError as error:
        raise to_airflow(error) from error
