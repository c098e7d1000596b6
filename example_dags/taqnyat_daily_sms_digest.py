"""
Daily SMS digest: every morning, summarise yesterday's pipeline runs and schedule the SMS for
07:30 Riyadh time, after checking the account can pay for it.

The send is scheduled with Taqnyat (``scheduled_at``), so the message goes out at a fixed time
however early the DAG runs; the ``delete_id`` in the task's XCom cancels it until then
(``TaqnyatHook().delete_scheduled_sms(delete_id)``).

Set up the ``taqnyat_default`` connection first (password = Bearer token, extra ``sender``).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param, task

from taqnyat_provider.operators.sms import TaqnyatSmsOperator

SEND_AT = {"hour": 7, "minute": 30}

with DAG(
    dag_id="taqnyat_daily_sms_digest",
    description="Daily pipeline digest by SMS, scheduled for 07:30 Asia/Riyadh",
    doc_md=__doc__,
    schedule="0 5 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Riyadh"),
    catchup=False,
    max_active_runs=1,
    params={
        "recipients": Param(["966500000000", "966512345678"], type="array", description="Numbers to text"),
    },
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["taqnyat", "example"],
) as dag:
    # [START howto_operator_taqnyat_sms_scheduled]
    @task
    def build_digest(data_interval_start=None) -> dict[str, str]:
        # A real DAG would query its metadata or warehouse here.
        loaded, failed = 42, 0
        now = pendulum.now("Asia/Riyadh")
        send_at = now.replace(second=0, microsecond=0, **SEND_AT)
        if send_at <= now.add(minutes=5):
            send_at = send_at.add(days=1)
        day = (data_interval_start or now).in_timezone("Asia/Riyadh").format("YYYY-MM-DD")
        return {
            "body": f"Pipelines {day}: {loaded} loads OK, {failed} failed. ملخص يومي",
            "send_at": send_at.isoformat(),
        }

    digest = build_digest()

    send_digest = TaqnyatSmsOperator(
        task_id="send_digest",
        body="{{ ti.xcom_pull(task_ids='build_digest')['body'] }}",
        recipients="{{ params.recipients }}",
        scheduled_at="{{ ti.xcom_pull(task_ids='build_digest')['send_at'] }}",
        min_balance=5,
    )
    # [END howto_operator_taqnyat_sms_scheduled]

    digest >> send_digest
