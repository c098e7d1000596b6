"""
`make bench`: the provider against its nearest baseline, side by side, in one run on one machine.

1. Parse cost: importing the DAG-facing modules on top of ``airflow.sdk`` vs the http provider's
   operator module; parsing a DAG file of 100 voice tasks vs the same DAG of HttpOperator tasks.
2. Hook overhead: ``TaqnyatHook.send_voice`` vs a raw ``requests.Session.post`` of the same body;
   TCP connections a 100-batch send opens; the XCom's size.
3. DAG runs, the path users take (``benchmarks/dag_runs.py``): in one ``airflow dags test`` per
   Airflow venv (3.3, and 2.11 in the full run), the voice operator sending 1,000 to 100,000
   recipients at batch_size 100 beside an empty task, raw batched ``requests`` posts of the same
   bodies, and single durable store writes (``task_state_store.set``; ``Variable.set``): the
   provider's cost per batch above the empty task against one store write plus one raw POST, and
   the bytes its send ledger wrote against the bytes it kept.
4. Triggerer scale: 1,000 to 5,000 ``TaqnyatStatusTrigger`` vs as many ``HttpSensorTrigger`` in one
   event loop, started spread over one poll interval as a triggerer sees them: CPU per poll, peak RSS.
5. Event-loop stalls: the longest the loop waits on the first use of the status trigger (vs
   ``HttpSensorTrigger``'s) and of ``TaqnyatVoiceNotifier.async_notify``, measured by a probe task.

Every measurement that can be disturbed runs in its own fresh process, interleaved with its baseline
and repeated (medians); the sandbox runs in its own process too. ``--short`` runs everything small
(CI runs it so the benchmarks cannot rot) and draws the plots into a scratch folder; ``--write``
puts the table and the plots (matplotlib) into the docs. ``--dag-runs airflow2`` (or ``airflow3``,
or both, with ``--repeats 1000:11`` say) runs the DAG runs alone and prints them, writing nothing:
a minute or two, for iterating on the send ledger. Exit status is 0 however slow things are.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import procs  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))

import dag_runs  # noqa: E402

TOKEN = "bench-token-0123456789abcdef"
AUDIO = "https://cdn.example.com/alert.mp3"
IMAGES = ROOT / "docs" / "images"


@dataclass
class Row:
    name: str
    ours: float | None  # None: not measurable on this code (reported as n/a)
    baseline: float | None  # None: an absolute target, no baseline to compare with
    unit: str  # "s", "ms", "MB", "bytes" or "" (a count)
    target: str
    limit: float  # the most the ratio may be, or the value itself when the target is absolute
    absolute: bool = False  # judged on the value (a stall in ms); a baseline, if any, is for scale

    @property
    def ratio(self) -> float | None:
        return self.ours / self.baseline if self.baseline and self.ours is not None else None

    @property
    def met(self) -> bool:
        value = self.ours if self.absolute else self.ratio
        return value is not None and value <= self.limit


def in_fresh_process(code: str, env: dict[str, str]) -> dict:
    """Run ``code`` in a new interpreter; it prints one JSON object as its last line."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def sandbox_admin(method: str, url: str, payload: dict | None = None) -> dict:
    status, body = procs.http(method, url, payload)
    if status != 200:
        raise SystemExit(f"sandbox admin call {method} {url} failed: {status} {body}")
    return body


def reset_sandbox(url: str, degraded: bool = False) -> None:
    sandbox_admin("POST", f"{url}/_sandbox/reset", {})
    sandbox_admin("POST", f"{url}/_sandbox/balance", {"balance": "1000000000"})
    if degraded:
        sandbox_admin(
            "POST", f"{url}/_sandbox/status", {"service": "voice", "description": "Voice service is degraded"}
        )


def received(url: str) -> list[dict]:
    return sandbox_admin("GET", f"{url}/_sandbox/requests")["requests"]


# --------------------------------------------------------------------------------------------------
# 1. Parse cost

IMPORT_CODE = """
import json, time
import airflow.sdk  # already paid by every DAG file
start = time.perf_counter()
{imports}
print(json.dumps({{"seconds": time.perf_counter() - start}}))
"""

DAG_TEMPLATE = """
import pendulum
from airflow.sdk import DAG
{import_line}

with DAG("bench_{name}", schedule=None, start_date=pendulum.datetime(2026, 1, 1)):
    for i in range(100):
        {operator}
"""

PARSE_CODE = """
import json, time, runpy
import airflow.sdk
start = time.perf_counter()
runpy.run_path({path!r})
print(json.dumps({{"seconds": time.perf_counter() - start}}))
"""


def bench_parse(env: dict[str, str], runs: int, work: Path) -> list[Row]:
    ours_imports = (
        "import taqnyat_provider.operators.voice, taqnyat_provider.sensors.status, "
        "taqnyat_provider.notifications.voice"
    )
    http_imports = "import airflow.providers.http.operators.http"
    dags = {
        "taqnyat": DAG_TEMPLATE.format(
            name="taqnyat",
            import_line="from taqnyat_provider.operators.voice import TaqnyatVoiceOperator",
            operator=f'TaqnyatVoiceOperator(task_id=f"call_{{i}}", audio_url="{AUDIO}", recipients=["966500000000"])',
        ),
        "http": DAG_TEMPLATE.format(
            name="http",
            import_line="from airflow.providers.http.operators.http import HttpOperator",
            operator='HttpOperator(task_id=f"call_{i}", endpoint="voiceSend.php/", method="POST", data="{}")',
        ),
    }
    paths = {}
    for name, source in dags.items():
        paths[name] = work / f"bench_{name}.py"
        paths[name].write_text(source)
    samples: dict[str, list[float]] = {
        key: [] for key in ("import_ours", "import_http", "dag_ours", "dag_http")
    }
    for _ in range(runs):  # interleaved, so that drift hits both sides alike
        samples["import_ours"].append(
            in_fresh_process(IMPORT_CODE.format(imports=ours_imports), env)["seconds"]
        )
        samples["import_http"].append(
            in_fresh_process(IMPORT_CODE.format(imports=http_imports), env)["seconds"]
        )
        samples["dag_ours"].append(
            in_fresh_process(PARSE_CODE.format(path=str(paths["taqnyat"])), env)["seconds"]
        )
        samples["dag_http"].append(
            in_fresh_process(PARSE_CODE.format(path=str(paths["http"])), env)["seconds"]
        )
    median = {key: statistics.median(values) for key, values in samples.items()}
    return [
        Row(
            "Import voice operator + sensor + notifier vs http operator",
            median["import_ours"],
            median["import_http"],
            "s",
            "<= 0.5x",
            0.5,
        ),
        Row(
            "Parse a DAG of 100 voice tasks vs 100 HttpOperator tasks",
            median["dag_ours"],
            median["dag_http"],
            "s",
            "<= 0.5x",
            0.5,
        ),
    ]


# --------------------------------------------------------------------------------------------------
# 2 and 3. Hook overhead and bulk

HOOK_CODE = """
import json, statistics, time
import requests
from taqnyat_provider.hooks.taqnyat import TaqnyatHook

base, token, calls, xcom_size = {base!r}, {token!r}, {calls}, {xcom_size}
audio = {audio!r}
body = {{"recipients": ["966500000000"], "callerId": "966500000001", "audioUrl": audio}}

hook = TaqnyatHook()
raw = requests.Session()
headers = {{"Authorization": f"Bearer {{token}}", "Accept": "application/json"}}
hook.send_voice(audio, None, ["966500000000"])            # warm both connections
raw.post(f"{{base}}/voiceSend.php/", json=body, headers=headers).raise_for_status()
ours, theirs = [], []
for _ in range(calls):
    start = time.perf_counter(); hook.send_voice(audio, None, ["966500000000"]); ours.append(time.perf_counter() - start)
    start = time.perf_counter()
    response = raw.post(f"{{base}}/voiceSend.php/", json=body, headers=headers); response.json()
    theirs.append(time.perf_counter() - start)

def provider(numbers):
    start = time.perf_counter()
    report = hook.place_voice_calls(audio, numbers, batch_size=100)
    seconds = time.perf_counter() - start
    assert len(report.accepted) == len(numbers)
    return seconds, report

numbers = [f"9665{{n:08d}}" for n in range(xcom_size)]
xcom = json.dumps(provider(numbers)[1].to_xcom())
print(json.dumps({{"ours": statistics.median(ours), "raw": statistics.median(theirs),
                  "xcom_bytes": len(xcom), "numbers_bytes": len(json.dumps(numbers))}}))
"""

CONNECTIONS_CODE = """
import json
from taqnyat_provider.hooks.taqnyat import TaqnyatHook
numbers = [f"9665{{n:08d}}" for n in range({size})]
TaqnyatHook().place_voice_calls({audio!r}, numbers, batch_size=100)
print(json.dumps({{}}))
"""


def bench_hook(env: dict[str, str], sandbox_url: str, calls: int, connections_size: int) -> list[Row]:
    # TCP connections: one send on its own, then the sandbox's view of it.
    reset_sandbox(sandbox_url)
    in_fresh_process(CONNECTIONS_CODE.format(size=connections_size, audio=AUDIO), env)
    ports = {
        r["client_port"]
        for r in received(sandbox_url)
        if isinstance(r["body"], dict) and len(r["body"].get("recipients", [])) > 1
    }

    reset_sandbox(sandbox_url)
    result = in_fresh_process(
        HOOK_CODE.format(
            base=sandbox_url,
            token=TOKEN,
            calls=calls,
            xcom_size=1_000,
            audio=AUDIO,
        ),
        env,
    )
    reset_sandbox(sandbox_url)  # the sandbox holds every body it received: let it go
    rows = [
        Row(
            f"send_voice vs raw requests post (median of {calls})",
            result["ours"],
            result["raw"],
            "s",
            "<= 1.1x",
            1.1,
        )
    ]
    rows.append(
        Row(
            f"TCP connections opened by the hook for {connections_size // 100} batches",
            float(len(ports)),
            1.0,
            "",
            "1",
            1.0,
        )
    )
    rows.append(
        Row(
            "XCom per 1,000 recipients vs a JSON list of their numbers",
            result["xcom_bytes"],
            result["numbers_bytes"],
            "bytes",
            "<= 1.2x",
            1.2,
        )
    )
    return rows


# --------------------------------------------------------------------------------------------------
# 3. DAG runs

AIRFLOW2_PYTHON = ROOT / ".venv-airflow2" / "bin" / "python"


def bench_dag_runs(
    env: dict[str, str], sandbox_url: str, work: Path, sizes: dict[str, dag_runs.Sizes]
) -> tuple[list[Row], list[Row], str, dict]:
    """
    The DAG-run rows of Airflow 3 (``sizes["airflow3"]``, this venv) and of Airflow 2.11
    (``sizes["airflow2"]``, the ``.venv-airflow2`` venv; skipped when absent from ``sizes``),
    the table of absolute figures behind them, and what the plot needs.
    """
    runs = []
    if "airflow3" in sizes:
        runs.append(("airflow3", sys.executable, "task_state_store.set", "task_state_store"))
    if "airflow2" in sizes:
        if not AIRFLOW2_PYTHON.exists():
            raise SystemExit(f"{AIRFLOW2_PYTHON} is missing: run `make venv-airflow2` first")
        runs.append(("airflow2", str(AIRFLOW2_PYTHON), "Variable.set", "variable"))
    sections, rows_by_venv, plot_data = [], {}, {}
    for name, python, write_name, store in runs:
        reset_sandbox(sandbox_url)
        measured = dag_runs.measure(python, work, env, sandbox_url, TOKEN, AUDIO, sizes[name])
        reset_sandbox(sandbox_url)  # the sandbox holds every body it received: let it go
        results = dag_runs.summarize(measured, store)
        sections.append((measured, write_name, results))
        plot_data[name] = {
            "airflow": measured.airflow,
            "write": write_name,
            "results": results,
            "alternation": dag_runs.alternation_summary(measured, write_name),
        }
        rows = []
        for r in results:
            label = f"DAG run, Airflow {measured.airflow}, {r.size:,} recipients ({r.batches:,} batches"
            repeats = f", median of {r.repeats}" if r.repeats > 1 else ""
            rows.append(
                Row(
                    f"{label}{repeats}): voice operator's cost per batch above an empty task vs "
                    f"one {write_name} + one raw POST",
                    1000 * r.per_batch,
                    1000 * r.floor,
                    "ms",
                    "<= 1.2x",
                    1.2,
                )
            )
            rows.append(
                Row(
                    f"{label}): bytes the send ledger wrote vs the bytes it kept",
                    None if r.ledger is None else float(r.ledger[1]),
                    None if r.ledger is None else float(r.ledger[2]),
                    "bytes",
                    "<= 2x",
                    2.0,
                )
            )
        rows_by_venv[name] = rows
    return (
        rows_by_venv.get("airflow3", []),
        rows_by_venv.get("airflow2", []),
        dag_runs.details(sections),
        plot_data,
    )


# --------------------------------------------------------------------------------------------------
# 4. Triggerer scale

TRIGGER_CODE = """
import asyncio, importlib, json, logging, resource, sys, time
logging.disable(logging.WARNING)
kind, count, interval, seconds = {kind!r}, {count}, {interval}, {seconds}
# What each triggerer process has loaded once its first trigger of that kind ran.
if kind == "taqnyat":
    import taqnyat_provider.hooks.taqnyat_async as hooks
    for name in hooks.ASYNC_STACK:
        importlib.import_module(name)
    from taqnyat_provider.triggers.status import TaqnyatStatusTrigger
    triggers = [TaqnyatStatusTrigger(poll_interval=interval) for _ in range(count)]
else:
    from airflow.providers.http.triggers.http import HttpSensorTrigger
    triggers = [HttpSensorTrigger(endpoint="missing/", http_conn_id="bench_http", poke_interval=interval)
                for _ in range(count)]

async def drive(trigger, delay):
    await asyncio.sleep(delay)  # deferred tasks arrive spread out, not all in the same instant
    async for _ in trigger.run():
        return

async def main():
    tasks = [asyncio.create_task(drive(t, interval * i / count)) for i, t in enumerate(triggers)]
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

before = resource.getrusage(resource.RUSAGE_SELF)
asyncio.run(main())
after = resource.getrusage(resource.RUSAGE_SELF)
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
print(json.dumps({{"cpu": cpu, "rss_mb": after.ru_maxrss / 1024, "requests_loaded": "requests" in sys.modules}}))
"""


def bench_triggers(
    env: dict[str, str], sandbox_url: str, counts: list[int], polls: int, rate: float, row_counts: set[int]
) -> tuple[list[Row], dict]:
    env = {**env, "AIRFLOW_CONN_BENCH_HTTP": json.dumps({"conn_type": "http", "host": sandbox_url})}
    rows: list[Row] = []
    plot: dict = {"counts": counts, "cpu_ours": [], "cpu_http": [], "rss_ours": [], "rss_http": []}
    notes = {}
    for count in counts:
        # Polls spread evenly, `rate` a second in all: what the sandbox (one process) can answer.
        interval = max(1.0, count / rate)
        seconds = polls * interval + interval / 2
        results, made = {}, {}
        for kind in ("taqnyat", "http"):
            reset_sandbox(sandbox_url, degraded=True)
            code = TRIGGER_CODE.format(kind=kind, count=count, interval=interval, seconds=seconds)
            results[kind] = in_fresh_process(code, env)
            made[kind] = max(len(received(sandbox_url)), 1)
        per_poll = {kind: 1000 * results[kind]["cpu"] / made[kind] for kind in results}
        plot["cpu_ours"].append(per_poll["taqnyat"])
        plot["cpu_http"].append(per_poll["http"])
        plot["rss_ours"].append(results["taqnyat"]["rss_mb"])
        plot["rss_http"].append(results["http"]["rss_mb"])
        notes[count] = {"requests_loaded": results["taqnyat"]["requests_loaded"]}
        if count not in row_counts:
            continue
        label = f"{count:,} triggers, {polls} polls each"
        rows.append(
            Row(
                f"{label}: CPU ms per poll ({results['taqnyat']['cpu']:.2f} s / {made['taqnyat']:,} polls "
                f"vs {results['http']['cpu']:.2f} s / {made['http']:,})",
                per_poll["taqnyat"],
                per_poll["http"],
                "ms",
                "<= 1.0x",
                1.0,
            )
        )
        rows.append(
            Row(
                f"{label}: peak RSS",
                results["taqnyat"]["rss_mb"],
                results["http"]["rss_mb"],
                "MB",
                "<= 1.0x",
                1.0,
            )
        )
    plot["notes"] = notes
    return rows, plot


# --------------------------------------------------------------------------------------------------
# 5. Event-loop stalls

STALL_CODE = """
import asyncio, importlib, json, logging, sys, time
logging.disable(logging.WARNING)
import airflow.sdk, airflow.triggers.base  # a triggerer has both loaded
kind = {kind!r}
if kind == "notifier":  # the DAG file imported it: parse cost, not first-use cost
    from taqnyat_provider.notifications.voice import TaqnyatVoiceNotifier
    notifier = TaqnyatVoiceNotifier(audio_url={audio!r}, recipients=["966500000000"])

async def probe(stop, lags):
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        lags.append(now - last - 0.001)
        last = now

async def first_use():
    if kind == "notifier":
        await notifier.async_notify({{}})
        return
    if kind == "taqnyat":  # the triggerer imports a trigger's module on its event loop
        trigger = importlib.import_module("taqnyat_provider.triggers.status").TaqnyatStatusTrigger(
            poll_interval=60
        )
    else:
        trigger = importlib.import_module("airflow.providers.http.triggers.http").HttpSensorTrigger(
            endpoint="system/status/", http_conn_id="bench_http", poke_interval=60
        )
    events = trigger.run()
    try:
        await asyncio.wait_for(events.__anext__(), 10)
    finally:
        await events.aclose()

async def main():
    stop, lags = asyncio.Event(), []
    task = asyncio.create_task(probe(stop, lags))
    await asyncio.sleep(0.3)
    idle = max(lags)
    lags.clear()
    await first_use()
    await asyncio.sleep(0.05)
    stop.set()
    await task
    return max(lags), idle

stall, idle = asyncio.run(main())
print(json.dumps({{"stall": stall, "idle": idle}}))
"""


def bench_stalls(
    env: dict[str, str], sandbox_url: str, runs: int, work: Path, warm: bool
) -> tuple[list[Row], dict]:
    # As installed: pip compiles bytecode at install time, so a worker or triggerer reads .pyc files.
    # This machine's environment forbids writing them (PYTHONDONTWRITEBYTECODE); without them every
    # import compiles from source, and compile() holds the GIL for whole modules, which no thread
    # can hide. So the processes get a bytecode cache of their own, filled by one unmeasured run.
    env = {key: value for key, value in env.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    env["AIRFLOW_CONN_BENCH_HTTP"] = json.dumps({"conn_type": "http", "host": sandbox_url})
    kinds = ("taqnyat", "http", "notifier")
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    idle: list[float] = []
    reset_sandbox(sandbox_url)  # operational: the first poll ends the trigger
    for run in range(runs + (1 if warm else 0)):
        for kind in kinds:
            result = in_fresh_process(STALL_CODE.format(kind=kind, audio=AUDIO), env)
            if warm and run == 0:
                continue
            samples[kind].append(1000 * result["stall"])
            idle.append(1000 * result["idle"])
    median = {kind: statistics.median(values) for kind, values in samples.items()}
    rows = [
        Row(
            "Longest event-loop stall on first use: status trigger vs HttpSensorTrigger",
            median["taqnyat"],
            median["http"],
            "ms",
            "<= 50 ms",
            50.0,
            absolute=True,
        ),
        Row(
            "Longest event-loop stall on first use: TaqnyatVoiceNotifier.async_notify",
            median["notifier"],
            None,
            "ms",
            "<= 50 ms",
            50.0,
            absolute=True,
        ),
    ]
    return rows, {"idle_ms": statistics.median(idle), "runs": runs}


# --------------------------------------------------------------------------------------------------
# Plots


def plot(ledger: dict, triggers: dict, folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(6.8, 4.2), dpi=110)
    styles = {"airflow3": ("o-", "s--"), "airflow2": ("^-", "v--")}
    for name, data in ledger.items():
        results = data["results"]
        batches = [r.batches for r in results]
        ours, floor = styles[name]
        axes.plot(
            batches,
            [1000 * r.per_batch for r in results],
            ours,
            label=f"voice operator, Airflow {data['airflow']}",
        )
        axes.plot(
            batches,
            [1000 * r.floor for r in results],
            floor,
            label=f"floor: one {data['write']} + one raw POST, Airflow {data['airflow']}",
        )
        if name == "airflow3":
            axes.plot(
                batches,
                [1000 * r.loop_per_batch for r in results],
                "d-.",
                label=f"crash-safe loop by hand (store write, raw POST), Airflow {data['airflow']}",
            )
            axes.plot(
                batches, [1200 * r.floor for r in results], ":", color="grey", label="target: 1.2 x floor"
            )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("batches in the send (batch_size 100), one task in a DAG run")
    axes.set_ylabel("ms per batch above an empty task (median)")
    axes.set_title("Cost per batch of a voice send in a DAG run (airflow dags test)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    ledger_png = folder / "perf-ledger.png"
    figure.savefig(ledger_png)
    plt.close(figure)

    counts = triggers["counts"]
    figure, (cpu, rss) = plt.subplots(1, 2, figsize=(9.0, 3.8), dpi=110)
    cpu.plot(counts, triggers["cpu_ours"], "o-", label="TaqnyatStatusTrigger")
    cpu.plot(counts, triggers["cpu_http"], "s--", label="HttpSensorTrigger")
    cpu.set_xlabel("triggers in one event loop")
    cpu.set_ylabel("CPU ms per poll")
    cpu.set_ylim(bottom=0)
    cpu.grid(True, alpha=0.3)
    cpu.legend()
    rss.plot(counts, triggers["rss_ours"], "o-", label="TaqnyatStatusTrigger")
    rss.plot(counts, triggers["rss_http"], "s--", label="HttpSensorTrigger")
    rss.set_xlabel("triggers in one event loop")
    rss.set_ylabel("peak RSS, MB")
    rss.grid(True, alpha=0.3)
    rss.legend()
    figure.suptitle("Triggerer cost vs number of triggers")
    figure.tight_layout()
    triggers_png = folder / "perf-triggers.png"
    figure.savefig(triggers_png)
    plt.close(figure)
    return [ledger_png, triggers_png]


# --------------------------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import airflow

    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, Airflow {airflow.__version__}, "
        f"{platform.system()} {platform.release()}"
    )


def number(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "bytes":
        return f"{value:,.0f} bytes"
    if unit == "":
        return f"{value:.0f}"
    return f"{value:.4g} {unit}"


def table(rows: list[Row]) -> str:
    lines = [
        "| Measure | Taqnyat provider | Baseline | Ratio | Target | Met |",
        "| --- | ---: | ---: | ---: | --- | :---: |",
    ]
    for row in rows:
        baseline = "—" if row.baseline is None else number(row.baseline, row.unit)
        ratio = "—" if row.ratio is None else f"{row.ratio:.2f}x"
        lines.append(
            f"| {row.name} | {number(row.ours, row.unit)} | {baseline} | {ratio} | {row.target} | "
            f"{'n/a' if row.ours is None else 'yes' if row.met else '**no**'} |"
        )
    return "\n".join(lines)


SIZES = {
    "short": {
        "parse_runs": 1,
        "calls": 20,
        "connections": 1_000,
        # One venv only (Airflow 3): 2.11's run adds a migration and a DAG run, and is the full run's.
        "dag_runs": {"airflow3": dag_runs.Sizes(repeats={1_000: 2}, writes=10)},
        "triggers": [50],
        "trigger_rows": {50},
        "polls": 2,
        "stall_runs": 1,
    },
    "full": {
        "parse_runs": 9,
        "calls": 300,
        "connections": 10_000,
        "dag_runs": {
            "airflow3": dag_runs.Sizes(repeats={1_000: 5, 10_000: 3, 100_000: 1}),
            # 1,000 recipients as often as on Airflow 3: its fixed costs over 10 batches make it the
            # noisiest row, whose median of 3 moved by 10% or more between runs on this machine.
            "airflow2": dag_runs.Sizes(repeats={1_000: 5, 10_000: 2}, task_state_store=False),
        },
        "triggers": [1_000, 2_500, 5_000],
        "trigger_rows": {1_000, 5_000},
        "polls": 4,
        "stall_runs": 5,
    },
}
TRIGGER_RATE = 500.0
"""Polls a second, all triggers together: about what one sandbox process answers on 2 busy cores."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--short", action="store_true", help="small sizes, for CI")
    parser.add_argument("--write", action="store_true", help="write docs/performance.md and its plots")
    parser.add_argument(
        "--dag-runs",
        metavar="VENVS",
        help="only the DAG runs, of these venvs (airflow3, airflow2 or both, comma-separated), with the "
        "full run's sizes; prints their tables and writes nothing (for iterating on the ledger)",
    )
    parser.add_argument(
        "--repeats",
        metavar="SIZE:N,...",
        help="with --dag-runs: repeats per number of recipients instead of the full run's, e.g. 1000:11",
    )
    args = parser.parse_args()
    if args.dag_runs:
        return dag_runs_only(args.dag_runs.split(","), args.repeats)
    sizes = SIZES["short" if args.short else "full"]
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"taqnyat-bench-{os.getpid()}"
    work.mkdir()
    try:
        env, sandbox_url = start_sandbox(work)
        started = time.monotonic()
        steps: list[str] = []

        def step(name: str, since: float) -> None:
            steps.append(f"{name} {time.monotonic() - since:.0f} s")
            print(f"==> {steps[-1]}", file=sys.stderr, flush=True)

        mark = time.monotonic()
        rows = bench_parse(env, sizes["parse_runs"], work)
        step("parse", mark)
        mark = time.monotonic()
        rows += bench_hook(env, sandbox_url, sizes["calls"], sizes["connections"])
        step("hook", mark)
        mark = time.monotonic()
        dag_rows, airflow2_rows, dag_details, ledger_plot = bench_dag_runs(
            env, sandbox_url, work, sizes["dag_runs"]
        )
        rows += dag_rows
        step("DAG runs", mark)
        mark = time.monotonic()
        trigger_rows, trigger_plot = bench_triggers(
            env, sandbox_url, sizes["triggers"], sizes["polls"], TRIGGER_RATE, sizes["trigger_rows"]
        )
        rows += trigger_rows
        step("triggers", mark)
        mark = time.monotonic()
        stall_rows, stalls = bench_stalls(env, sandbox_url, sizes["stall_runs"], work, warm=True)
        rows += stall_rows
        step("stalls", mark)
        folder = IMAGES if args.write else work / "images"
        images = plot(ledger_plot, trigger_plot, folder)
        elapsed = time.monotonic() - started
        report = table(rows)
        airflow2_report = table(airflow2_rows) if airflow2_rows else "(not run: `make bench` runs it)"
        print(report)
        print(f"\nAirflow 2.11 DAG runs:\n{airflow2_report}")
        print(f"\nDAG runs, absolute figures (in task / metadata DB):\n{dag_details}")
        print(f"\nplots: {', '.join(str(image) for image in images)}")
        print(f"event-loop jitter of an idle probe (median): {stalls['idle_ms']:.1f} ms")
        print(f"\n{machine()}; {elapsed:.0f} s{' (short mode)' if args.short else ''} ({', '.join(steps)})")
    finally:
        procs.stop_all()
        subprocess.run(["rm", "-rf", str(work)], check=False)
    if args.write:
        # The bare-hook bulk plot this page used to show measured no DAG run: gone with its rows.
        (IMAGES / "perf-recipients.png").unlink(missing_ok=True)
        (ROOT / "docs" / "performance.md").write_text(
            PERFORMANCE_PAGE.format(
                table=report,
                airflow2_table=airflow2_report,
                dag_details=dag_details,
                alternation_summary="\n".join(data["alternation"] for data in ledger_plot.values()),
                loop_summary="\n".join(
                    dag_runs.loop_summary(data["airflow"], data["results"]) for data in ledger_plot.values()
                ),
                writes=sizes["dag_runs"]["airflow3"].writes,
                machine=machine(),
                date=time.strftime("%Y-%m-%d"),
                idle=stalls["idle_ms"],
                stall_runs=stalls["runs"],
                requests_loaded="loads"
                if trigger_plot["notes"][max(sizes["triggers"])]["requests_loaded"]
                else "never loads",
                trigger_rate=TRIGGER_RATE,
            )
        )
    return 0


def start_sandbox(work: Path) -> tuple[dict[str, str], str]:
    """The sandbox in its own process, and the environment whose connection reaches it."""
    env = {**os.environ, "TAQNYAT_SANDBOX_TOKEN": TOKEN, "AIRFLOW_HOME": str(work / "airflow")}
    _, sandbox_url = procs.start_sandbox(work, {**env})
    env["AIRFLOW_CONN_TAQNYAT_DEFAULT"] = json.dumps(
        {
            "conn_type": "taqnyat",
            "host": sandbox_url,
            "password": TOKEN,
            "extra": {"caller_id": "966500000001", "timeout": 30},
        }
    )
    return env, sandbox_url


def dag_runs_only(venvs: list[str], repeats: str | None) -> int:
    """``--dag-runs``: the DAG-run step alone, its rows and absolute figures printed."""
    full: dict[str, dag_runs.Sizes] = SIZES["full"]["dag_runs"]  # type: ignore[assignment]
    unknown = set(venvs) - set(full)
    if unknown:
        raise SystemExit(f"--dag-runs takes {', '.join(full)}; got {', '.join(sorted(unknown))}")
    sizes = {name: full[name] for name in venvs}
    if repeats:
        wanted = {int(size): int(count) for size, count in (pair.split(":") for pair in repeats.split(","))}
        sizes = {name: dataclasses.replace(s, repeats=wanted) for name, s in sizes.items()}
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"taqnyat-bench-{os.getpid()}"
    work.mkdir()
    try:
        env, sandbox_url = start_sandbox(work)
        airflow3, airflow2, details, plot_data = bench_dag_runs(env, sandbox_url, work, sizes)
        for name, rows in (("Airflow 3", airflow3), ("Airflow 2.11", airflow2)):
            if rows:
                print(f"{name} DAG runs:\n{table(rows)}\n")
        print(f"DAG runs, absolute figures (in task / metadata DB):\n{details}\n")
        for data in plot_data.values():
            print(data["alternation"])
            print(dag_runs.loop_summary(data["airflow"], data["results"]))
        print(f"\n{machine()}")
    finally:
        procs.stop_all()
        subprocess.run(["rm", "-rf", str(work)], check=False)
    return 0


PERFORMANCE_PAGE = """# Performance

`make bench` measures the provider next to its nearest baseline, side by side in one run on one
machine; each ratio is provider / baseline, so lower is better. Imports, DAG parses, triggerers and
first uses run in fresh interpreters, the sandbox in its own process; the hook and the raw
`requests` session talk to the same sandbox over loopback, interleaved and repeated (medians). A
short mode (`make bench-short`, part of `make test`) runs every step small so that the benchmarks
cannot rot; slowness never fails it. The machine's 2 cores are shared with other work, so single
runs move by several percent: the table is one whole run, as generated.

Measured on {date}: {machine}.

{table}

![Cost per batch of a voice send in a DAG run against the floor, by number of batches](images/perf-ledger.png)

![CPU per poll and peak memory of 1,000 to 5,000 triggers in one event loop](images/perf-triggers.png)

## Reading it

- **Parse cost.** DAG files import the operator modules on every parse. The provider's modules
  import no HTTP stack (requests, aiohttp, urllib3), no `phonenumbers` and not the hook: those load
  when a task runs. A test (`tests/providers/test_provider_info.py`) keeps it that way.
- **Hook overhead.** Around the same `requests` session a raw client uses, `send_voice` checks and
  normalizes its arguments, keeps the send in a send ledger, parses the loose answer and writes two
  INFO lines ("Sending ...", "Batch 1 of 1 delivered ..."). The two log lines are most of what is
  left: Airflow's structlog pipeline costs 0.05 to 0.2 ms a line, and the task log and
  `make test-ui` rely on both. The hook's session wins some back: for plain-http loopback it does
  not consult the environment (proxies, `.netrc`) on every request, which a default
  `requests.Session` does.
- **Validation.** Every number is still checked by `phonenumbers`' rules before the first request,
  but a number written as international digits is checked against regular expressions compiled once
  per calling code from `phonenumbers`' own metadata (the same patterns, lengths, national-prefix
  and region rules its `parse` and `is_valid_number` apply; a test compares both on every region's
  example numbers and on random digits). A list sharing one single-region calling code is checked in
  one pass of the regular expression engine; anything else (a local number, a national prefix to
  strip, a bad entry) takes the full `phonenumbers` way, which also words the error. Each distinct
  entry is normalized once. 100,000 numbers take some 50 ms instead of some 4.5 s.
- **Bulk.** Every batch goes over one kept-alive connection (the TCP row). What a batch costs where
  users send, in a task of a DAG run, is the DAG-run section below; a bare hook with an in-memory
  ledger, which no DAG uses, is no longer timed.
- **XCom.** Each phone number appears once (`accepted`, `rejected` or `maybe_reached`); batches carry
  counts, not numbers.
- **Triggers.** The triggers start spread over one poll interval, as deferred tasks reach a
  triggerer, and poll {trigger_rate:.0f} times a second in all (what one sandbox process answers on
  this machine); CPU is divided by the polls the sandbox received. A `TaqnyatStatusTrigger` reads
  its connection once and keeps one aiohttp session and connection for its whole wait;
  `HttpSensorTrigger` reads the connection and opens a new session and TCP connection on every poll.
  The provider's triggerer process {requests_loaded} `requests`.
- **Event-loop stalls.** A probe task sleeps 1 ms at a time and records how late it wakes (an idle
  loop: {idle:.1f} ms); each row is the median, over {stall_runs} fresh processes, of the longest
  wait while the trigger makes its first poll or `async_notify` makes its first call. The triggerer
  imports a trigger's module on its event loop, so `triggers/status.py` imports only light modules;
  the hook module is imported, and aiohttp, Airflow's async connection helpers and `phonenumbers`
  are loaded, in a worker thread on first use while the loop serves everyone else.
  `HttpSensorTrigger` loads its hook stack on the loop. The processes read compiled bytecode, as an
  installed deployment does (pip compiles it at install time). Where Python may neither read nor
  write bytecode (`PYTHONDONTWRITEBYTECODE` and no `.pyc` files, as in this machine's shell) every
  module compiles from source on import, and `compile()` holds the GIL for a whole module: then the
  same first use stalls the loop for some 0.1 to 0.25 s, thread or not.

## DAG runs: the path users take

One `airflow dags test` per Airflow venv, with a throwaway `AIRFLOW_HOME` and a freshly migrated
SQLite metadata database, runs one DAG whose tasks go one after another in the same process: for each
size and repeat an empty `@task` (the fixed cost of a task), a `@task` making raw batched `requests`
posts (one `requests.Session`, the same URL, the same JSON bodies, the Bearer header; the raw
floor), and `TaqnyatVoiceOperator` (`batch_size=100`, `check_audio=False`), raw and provider
swapping places every other repeat. Before them, one unmeasured one-batch send of each kind, so that
no measured task pays the first import of `requests` or of the hook, and the single writes: a `@task`
times {writes} `context["task_state_store"].set` (Airflow 3.3) and {writes} `Variable.set` of a small
dict, one at a time (the row uses the median). The sandbox runs in its own process, with no rate
limit and no latency; a POST of 100 numbers costs it 1 to 2 ms.

Beside them, for each size and repeat, a `@task` that is the least any crash-safe send can do,
written by hand with no provider code: it reads the header (absent), writes it naming batch 1 in
flight, then per batch makes one raw POST and one store write ("batch *k* delivered", naming *k+1*
in flight; its own key, `NEVER_EXPIRE` on 3.3, `Variable.set` on 2.11). Raw posts, the provider and
this loop take turns in front from one repeat to the next.

Each task is timed twice: from inside it (`time.perf_counter` from a `pre_execute` hook to
`on_success_callback`: `execute`, the operator's own `post_execute`, the return value's XCom and
the state change) and by the metadata database (the task instance's `start_date` to `end_date`,
which adds template rendering and the task runner's own steps). The rows use the first clock, so
that scheduling cannot blur a per-batch figure:

- provider cost per batch = (voice operator task − empty task) / batches;
- floor per batch = one store write + (raw task − empty task) / batches — one durable write and one
  POST, what any send that survives a crash between batches must pay; target: at most 1.2× it;
- bytes written to the send ledger against the bytes it keeps at the end, from the delivery engine's
  `Send ledger: <W> writes, <B> bytes written, <K> bytes kept` log line (n/a where the provider
  writes no such line); target: at most 2×.

The first task of a `dags test` run also pays the in-process task runner's start-up (seconds on the
database clock): that is the warm-up's, never a measured task's.

What a send writes: one record per batch ("batch *k* delivered" names "batch *k+1* in flight") and
the header before the first POST; the last batch's record travels in the header marked complete,
one write of one key: n + 1 writes for n batches, as the hand-written loop. On Airflow 2.11 the
send's reads and writes share one database connection. Besides, a send pays once for reading the
header, its XCom and a few log lines. Over 10 batches each of these weighs a tenth of a batch,
which is why the 1,000-recipient rows sit closest to the target.

{dag_details}

Times are medians over the repeats, in task / metadata database; "provider per batch" in
brackets is the same figure on the database clock.

**Why the floor is hard to reach on Airflow 3.3 in `dags test`.** The floor adds up two figures each
timed in a tight loop of its own kind: the median of back-to-back store writes, and raw POSTs back
to back. A send alternates them, and each then tends to run slower; the single-write median itself
moves by a few milliseconds from one run to the next (8.0 ms and 11.0 ms on the same quiet machine
the same afternoon), which moves every Airflow 3.3 ratio with it. One task of the same DAG run times
both halves both ways, on the same key and value as the floor's writes:

{alternation_summary}

On Airflow 3.3 each `set` is a call into the in-process Execution API (FastAPI behind a
WSGI-to-ASGI bridge, a SQLAlchemy session, a SQLite commit); the likeliest cause is that each
leaves the other's code and data cold in the CPU's caches. A probe found the POST as slow with a
3 ms sleep after the `set`, so it is not a thread finishing late. The hand-written loop above pays it as the provider
does:

{loop_summary}

Measured apart, by probes that are not part of `make bench` (December 2026, this machine): the
provider's own per-batch work (the delivery engine, the record, parsing the answer, one log line,
the hook's `requests` call) was under 0.4 ms a batch under `cProfile`; outside Airflow the
hook's POST is as fast as a raw `requests` POST of the same body (1.04 against 1.09 ms, median of
400 each). Besides the loop, a send pays once for the header read (7 to 9 ms) and its XCom (10 to
14 ms at 1,000 recipients, about 26 ms at 10,000); over 10 batches these weigh about 2 ms a batch,
so they weigh most on the 1,000-recipient row. The database clock adds, before `pre_execute`,
Airflow's rendering of the templated fields and the task runner's own steps (a list of plain
numbers is no longer compiled by Jinja number by number: 0.15 ms a number before 0.3.0).

**The 1,000-recipient row on Airflow 3.3 is not a stable pass.** At 10 batches, what any
crash-safe send pays once (reading the header, and the write naming batch 1 in flight before the
first POST) plus Airflow's XCom push are three calls to the Execution API of 7 to 13 ms each: a
quarter of the floor's ten writes and ten POSTs, which count none of them. Timing every call the
task makes to its supervisor, a 1,000-recipient send made one `GetTaskStateStore` (6 to 10 ms),
eleven `SetTaskStateStore` (7.3 ms each, median) and one `SetXCom` (8 to 13 ms). The ratio then
turns on what the floor's back-to-back `set` happens to measure in that run: run alone
(`benchmarks/run.py --dag-runs airflow3 --repeats 1000:11`, four times on 2026-12-07, quiet
machine) the row measured 1.28x, 1.44x, 1.58x and 1.31x, with the floor's `set` at 6.8 to 9.9 ms,
and the hand-written loop above (read, n + 1 writes, raw POSTs, no XCom, no provider code) itself
1.07x to 1.36x the floor; the full run above measured 1.12x. The 10,000- and 100,000-recipient
rows, where those calls weigh a hundredth of a batch or less, pass in every run.

### Airflow 2.11

The same DAG run on Airflow 2.11 (`.venv-airflow2`), 1,000 and 10,000 recipients, the floor's
write being `Variable.set`:

{airflow2_table}
"""


if __name__ == "__main__":
    sys.exit(main())
