"""
A pipeline that calls the on-call engineer when any of its tasks fails.

Trigger it with ``{"simulate_failure": true}`` to see the call being placed.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param, task

from taqnyat_provider.notifications.voice import send_taqnyat_voice_call

# [START howto_notifier_taqnyat_voice]
call_on_call_engineer = send_taqnyat_voice_call(
    audio_url="https://cdn.example.com/audio/pipeline-failed.mp3",
    recipients=["966500000000"],
)

with DAG(
    dag_id="taqnyat_failure_call",
    description="Place a voice call when a task of this pipeline fails",
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Riyadh"),
    catchup=False,
    params={"simulate_failure": Param(False, type="boolean")},
    default_args={"on_failure_callback": call_on_call_engineer},
    tags=["taqnyat", "example"],
) as dag:

    @task
    def extract() -> list[int]:
        return [1, 2, 3]

    @task
    def load(rows: list[int], params: dict | None = None) -> int:
        if params and params.get("simulate_failure"):
            raise RuntimeError("Warehouse refused the load (simulated)")
        return len(rows)

    load(extract())
# [END howto_notifier_taqnyat_voice]
