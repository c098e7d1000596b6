"""
Dynamic task mapping: once Taqnyat is operational, call and text each team's rota, one mapped task
per team and channel, in parallel on every worker.

Taqnyat allows about 100 requests per 60 s per connection. The send tasks share an Airflow pool,
so that however many teams and workers there are, only a few requests of this connection are in
flight at once. Create the pool once (``airflow pools set`` or Admin → Pools); tasks in a pool
that does not exist are never scheduled::

    airflow pools set taqnyat 4 "Taqnyat API (taqnyat_default): requests in flight"

A 429 that still comes is waited out as the API's ``Retry-After`` says; a try that runs out of
attempts ends with a retryable error, and the next try resumes from the send ledger without
calling or texting anyone twice.

Set up the ``taqnyat_default`` connection first (password = Bearer token, extras ``caller_id``
and ``sender``). Trigger with ``{"teams": [["9665..."], ...]}`` to reach other rotas.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param, task

from taqnyat_provider.operators.sms import TaqnyatSmsOperator
from taqnyat_provider.operators.voice import TaqnyatVoiceOperator
from taqnyat_provider.sensors.status import TaqnyatStatusSensor

TAQNYAT_POOL = "taqnyat"
"""One pool per Taqnyat connection: its slots bound the requests in flight against its rate limit."""

with DAG(
    dag_id="taqnyat_team_calls_mapped",
    description="Call and text each team's rota in its own mapped task, under the API's rate limit",
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Riyadh"),
    catchup=False,
    params={
        # In real life: read the rotas from your on-call tool in team_rotas().
        "teams": Param(
            [["966500000000", "966500000001"], ["966512345678"], ["966551234567", "966599999999"]],
            type="array",
            items={"type": "array", "items": {"type": "string"}},
            description="One list of numbers per team",
        )
    },
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    tags=["taqnyat", "example"],
) as dag:
    # [START howto_sensor_taqnyat_status_deferrable]
    # Waiting takes no pool slot and no worker: the deferred sensor polls from the triggerer.
    wait_for_taqnyat = TaqnyatStatusSensor(
        task_id="wait_for_taqnyat",
        deferrable=True,
        poke_interval=30,
        timeout=timedelta(minutes=30).total_seconds(),
    )
    # [END howto_sensor_taqnyat_status_deferrable]

    @task
    def team_rotas(params: dict | None = None) -> list[list[str]]:
        return list((params or {})["teams"])

    rotas = team_rotas()
    wait_for_taqnyat >> rotas

    # [START howto_operator_taqnyat_voice_mapped]
    TaqnyatVoiceOperator.partial(
        task_id="call_team",
        audio_url="https://cdn.example.com/audio/incident.mp3",
        pool=TAQNYAT_POOL,
    ).expand(recipients=rotas)
    # [END howto_operator_taqnyat_voice_mapped]

    # [START howto_operator_taqnyat_sms_mapped]
    TaqnyatSmsOperator.partial(
        task_id="text_team",
        body="Incident: your team is on call. Details in the incident channel.",
        pool=TAQNYAT_POOL,
    ).expand(recipients=rotas)
    # [END howto_operator_taqnyat_sms_mapped]
