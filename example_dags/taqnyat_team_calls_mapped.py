"""Dynamic task mapping: one voice-call task per team, each calling that team's rota."""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG, task

from taqnyat_provider.operators.voice import TaqnyatVoiceOperator

with DAG(
    dag_id="taqnyat_team_calls_mapped",
    description="Call each team's rota in its own mapped task",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Riyadh"),
    catchup=False,
    tags=["taqnyat", "example"],
) as dag:

    @task
    def team_rotas() -> list[list[str]]:
        # In real life: read the rota from your on-call tool.
        return [
            ["966500000000", "966500000001"],
            ["966512345678"],
            ["966551234567", "966599999999"],
        ]

    TaqnyatVoiceOperator.partial(
        task_id="call_team",
        audio_url="https://cdn.example.com/audio/incident.mp3",
    ).expand(recipients=team_rotas())
