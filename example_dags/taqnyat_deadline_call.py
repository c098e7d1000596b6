"""
### The nightly load, with on-call phone alerts

The load runs every night at 02:00 Riyadh time and must be done by 06:00.

* **Deadline call**: a run that is not done 4 hours after it was queued phones the on-call engineer
  and texts the team the DAG and run ids. The run is not stopped. Airflow 3.1+ runs the notifiers
  as deadline alerts in the triggerer. On Airflow 2.11 an SLA on the load does the same job,
  through `sla_miss_callback`. Airflow 3.0 has neither.
* **Escalation**: the load's first failure texts the team (`on_retry_callback`). If the retry
  15 minutes later fails too, the on-call engineer is called.
* **Quiet hours**: that call waits for 07:00 when it falls between 22:00 and 07:00 Riyadh time.
  It defers and holds no worker slot. Trigger with `{"urgent": true}` to call at once anyway.

Trigger with `{"load_seconds": 600}` to see the deadline missed, or with
`{"simulate_failure": true}` to see the escalation. Set up the `taqnyat_default` connection first
(password = Bearer token, extras `caller_id` and `sender`).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param, task

from taqnyat_provider.notifications.sms import TaqnyatSmsNotifier, send_taqnyat_sms
from taqnyat_provider.notifications.voice import TaqnyatVoiceNotifier
from taqnyat_provider.operators.voice import TaqnyatVoiceOperator
from taqnyat_provider.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS

ON_CALL = ["966500000000"]
TEAM = ["966512345678"]
LATE_AUDIO = "https://cdn.example.com/audio/nightly-load-late.mp3"

# [START deadline_alerts]
dag_alerts: dict[str, Any] = {}
load_alerts: dict[str, Any] = {}
if AIRFLOW_V_3_1_PLUS:
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    # The triggerer builds each notifier from these keyword arguments and awaits it; the
    # templates see the run that missed its deadline as `dag_run` and the deadline as `deadline`.
    dag_alerts["deadline"] = [
        DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=timedelta(hours=4),
            callback=AsyncCallback(
                TaqnyatVoiceNotifier, kwargs={"audio_url": LATE_AUDIO, "recipients": ON_CALL}
            ),
        ),
        DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=timedelta(hours=4),
            callback=AsyncCallback(
                TaqnyatSmsNotifier,
                kwargs={
                    "body": "{{ dag_run.dag_id }} is not done 4 h after it started ({{ dag_run.run_id }})",
                    "recipients": TEAM,
                },
            ),
        ),
    ]
elif not AIRFLOW_V_3_0_PLUS:
    # Airflow 2.11: an SLA on the load task, and the notifier as the DAG's sla_miss_callback.
    dag_alerts["sla_miss_callback"] = TaqnyatVoiceNotifier(audio_url=LATE_AUDIO, recipients=ON_CALL)
    load_alerts["sla"] = timedelta(hours=4)
# [END deadline_alerts]

with DAG(
    dag_id="taqnyat_deadline_call",
    description="Nightly load with a deadline call, SMS-then-call escalation and quiet hours",
    doc_md=__doc__,
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Riyadh"),
    catchup=False,
    max_active_runs=1,
    params={
        "load_seconds": Param(5, type="integer", minimum=0, description="How long the load takes"),
        "simulate_failure": Param(False, type="boolean"),
        "urgent": Param(False, type="boolean", description="Call even inside quiet hours"),
    },
    tags=["taqnyat", "example", "on-call"],
    **dag_alerts,
) as dag:

    @task
    def extract() -> list[int]:
        return [1, 2, 3]

    # [START escalation]
    @task(
        retries=1,
        retry_delay=timedelta(minutes=15),
        # First failure: a text. The call comes only if the retry fails too (call_on_call below).
        on_retry_callback=send_taqnyat_sms(
            body="{{ ti.task_id }} of {{ dag.dag_id }} failed (try {{ ti.try_number }}); retrying in 15 min",
            recipients=TEAM,
        ),
        **load_alerts,
    )
    def load(rows: list[int], params: dict | None = None) -> int:
        params = params or {}
        time.sleep(params.get("load_seconds", 0))
        if params.get("simulate_failure"):
            raise RuntimeError("The warehouse refused the load (simulated)")
        return len(rows)

    loaded = load(extract())
    # [END escalation]

    # [START failure_call_quiet_hours]
    call_on_call = TaqnyatVoiceOperator(
        task_id="call_on_call",
        trigger_rule="one_failed",  # runs only when the load failed for good
        audio_url="https://cdn.example.com/audio/nightly-load-failed.mp3",
        recipients=ON_CALL,
        quiet_hours=("22:00", "07:00"),  # Asia/Riyadh unless quiet_hours_timezone says otherwise
        urgent="{{ params.urgent }}",
    )
    # [END failure_call_quiet_hours]

    @task
    def publish(count: int) -> str:
        return f"{count} rows published"

    loaded >> call_on_call
    publish(loaded)
