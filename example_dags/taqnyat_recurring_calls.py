"""
Recurring notification calls: every working day (Sunday to Thursday) at 08:00 Riyadh time, wait
until Taqnyat is operational, then call the on-call rota.

A morning reminder placed hours late is wrong: when the DAG is unpaused after a pause, or the
scheduler was down at 08:00, Airflow starts the run of the last missed slot at once. The call is
skipped (not failed) when it would go out more than 30 minutes after 08:00. Manual runs always call.

Set up the ``taqnyat_default`` connection first (password = Bearer token, extra ``caller_id``).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param

from taqnyat_provider.operators.voice import TaqnyatVoiceOperator
from taqnyat_provider.sensors.status import TaqnyatStatusSensor

with DAG(
    dag_id="taqnyat_recurring_calls",
    description="Weekday 08:00 (Asia/Riyadh) reminder calls to the on-call rota",
    schedule="0 8 * * 0-4",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Riyadh"),
    catchup=False,
    max_active_runs=1,
    params={
        "rota": Param(["966500000000", "966512345678"], type="array", description="Numbers to call"),
        "audio_url": Param("https://cdn.example.com/audio/daily-reminder.mp3", type="string"),
    },
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["taqnyat", "example"],
) as dag:
    wait_for_taqnyat = TaqnyatStatusSensor(
        task_id="wait_for_taqnyat",
        deferrable=True,
        poke_interval=30,
        timeout=timedelta(minutes=30).total_seconds(),
    )

    # [START lateness_guard]
    call_rota = TaqnyatVoiceOperator(
        task_id="call_rota",
        audio_url="{{ params.audio_url }}",
        recipients="{{ params.rota }}",
        batch_size=100,
        max_lateness=timedelta(minutes=30),  # a scheduled run later than 08:30 calls nobody
    )
    # [END lateness_guard]

    wait_for_taqnyat >> call_rota
