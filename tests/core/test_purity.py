"""
The pure core (``taqnyat_provider/core``) imports no Airflow and no HTTP library, reads no
environment variable and touches no file, socket or process; the sandbox and the pytest plugin
import no Airflow.

Two ways, because each misses what the other sees: the modules' own source is read for what it
imports and calls, and a fresh interpreter runs the core's work (a voice call and an SMS checked
and delivered in batches with a send ledger, every endpoint's answer read, loose JSON mended, a
retry after a 429, the audio preflight, quiet hours, a connection read) with ``os.environ``
replaced by a mapping that refuses every read, and an audit hook that fails on any file opened but
a module being imported, any socket, any process.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import taqnyat_provider

PACKAGE = Path(taqnyat_provider.__file__).parent
CORE_FILES = sorted((PACKAGE / "core").rglob("*.py"))
CORE = [
    ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
    for path in CORE_FILES
] + ["taqnyat_provider.exceptions"]

# Airflow and the HTTP libraries belong to the layers around the core; the rest reach the
# environment, the filesystem, the network or other processes. ``zoneinfo`` reads the system's
# time-zone database: the operator resolves a zone's name, the core takes the zone.
FORBIDDEN_IMPORTS = {
    "airflow",
    "requests",
    "aiohttp",
    "urllib3",
    "httpx",
    "os",
    "pathlib",
    "io",
    "socket",
    "ssl",
    "subprocess",
    "shutil",
    "tempfile",
    "glob",
    "urllib.request",
    "http",
    "zoneinfo",
    "asyncio",
    "threading",
    "sqlalchemy",
    "posixpath",
    "genericpath",
    "ntpath",
    "mimetypes",
    "netrc",
    "importlib.resources",
    "importlib.metadata",
    "ctypes",
    "pkgutil",
    "platform",
    "sysconfig",
    "getpass",
    "pwd",
}
FORBIDDEN_CALLS = {"open", "getenv", "__import__", "exec", "eval"}


def _imports(tree: ast.AST, path: Path) -> set[str]:
    """Every module the source imports, relative imports resolved against its package."""
    package = path.relative_to(PACKAGE.parent).parent.parts
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_the_core_is_one_folder_and_the_list_above_sees_all_of_it():
    assert len(CORE_FILES) >= 20
    assert "taqnyat_provider.core.endpoints.voice" in CORE


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_the_core_source_imports_and_calls_nothing_that_reaches_out(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = _imports(tree, path)
    reaching = {
        name
        for name in imported
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN_IMPORTS)
    }
    assert reaching == set()
    # The core's own modules only: taqnyat_provider's others (hooks, ledger stores) do I/O.
    outside = {
        name
        for name in imported
        if name.startswith("taqnyat_provider") and not name.startswith("taqnyat_provider.core")
    }
    assert outside == set()
    called = {
        node.func.id if isinstance(node.func, ast.Name) else node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute))
    }
    assert called & FORBIDDEN_CALLS == set()
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert "environ" not in attributes


def loaded_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(output.split())


@pytest.mark.parametrize("module", CORE)
def test_the_core_imports_neither_airflow_nor_an_http_library(module):
    loaded = loaded_after_import(module)
    assert not {m for m in loaded if m.split(".")[0] in ("airflow", "requests", "aiohttp", "urllib3")}


@pytest.mark.parametrize(
    "module",
    ["taqnyat_provider.sandbox.server", "taqnyat_provider.sandbox.__main__", "taqnyat_provider.testing"],
)
def test_the_sandbox_and_the_pytest_plugin_import_no_airflow(module):
    loaded = loaded_after_import(module)
    assert not {m for m in loaded if m.split(".")[0] == "airflow"}


# Run in a fresh interpreter: every core module imported first, then the guards, then the work.
WORK = r"""
import importlib, json, logging, os, sys
from datetime import UTC, datetime, timedelta, timezone

for name in json.loads(sys.argv[1]):
    importlib.import_module(name)

from taqnyat_provider.core import audio_check, loose_json, quiet_hours, retry
from taqnyat_provider.core.connection_settings import settings_from_connection
from taqnyat_provider.core.delivery import Delivery
from taqnyat_provider.core.endpoints import account, sms_delete, status
from taqnyat_provider.core.endpoints.sms import SmsMessage
from taqnyat_provider.core.endpoints.voice import VoiceCall
from taqnyat_provider.core.ledger import Ledger, MemoryLedgerStore, ledger_secret
from taqnyat_provider.core.steps import Answer, Call, Request, Wait, drive

reached = []
IMPORTING = (".py", ".pyc", ".so")


SEARCH_PATH = tuple(path for path in sys.path if path)


def audit(event, args):
    if event == "open" and args and isinstance(args[0], str) and args[0].endswith(IMPORTING):
        return  # a module being imported (phonenumbers loads a region's metadata on first use)
    if event == "os.listdir" and args and str(args[0]).startswith(SEARCH_PATH):
        return  # the import system listing a package's folder to find a module in it
    if event in ("open", "os.listdir", "os.scandir", "socket.getaddrinfo", "socket.connect",
                 "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.fork"):
        reached.append(f"{event} {args[:1]!r}")


class NoEnvironment(dict):
    def _refuse(self, *args, **kwargs):
        reached.append(f"os.environ {args[:1]!r}")
        raise KeyError(args[0] if args else "environ")
    __getitem__ = get = __contains__ = keys = items = values = __iter__ = copy = _refuse


sys.addaudithook(audit)
os.environ = NoEnvironment()
settings = settings_from_connection(host=None, schema=None, port=None, password="t0ken",
                                    extra={"caller_id": "966500000001", "sender": "Taqnyat.sa"})

ACCEPTED = b'{"statusCode": 201, "messageId": "m-1", "cost": "0.3", "accepted": "[%s]", "rejected": "[]"}'


def perform(step):
    if isinstance(step, Wait):
        return None
    if isinstance(step, Call):
        return step.function()
    if step.endpoint == "account/balance" and not perform.throttled:
        perform.throttled = True
        return Answer(429, {"Retry-After": "0"}, b"")
    bodies = {
        "system/status/": b'{"statusCode": 200, "status": {"service": "none", "description": "All good"}}',
        "account/balance": b'{"statusCode": 200, "balance": "12.5", "currency": "SAR"}',
        "v1/messages/senders": b'{"statusCode": 200, "senders": [{"senderName": "Taqnyat.sa"}]}',
        "v1/messages/delete": b'{"statusCode": 201, "message": "Deleted successfully"}',
    }
    if step.endpoint in bodies:
        return Answer(200, {}, bodies[step.endpoint])
    numbers = ",".join(step.json["recipients"]).encode()
    return Answer(201, {}, ACCEPTED % numbers)


perform.throttled = False
log = logging.getLogger("purity")
policy = retry.RetryPolicy(backoff_seconds=0)
ledger = Ledger(MemoryLedgerStore(), "taqnyat.send", epoch=1, secret=ledger_secret("t0ken"))
voice = VoiceCall("https://cdn.example.com/alert.mp3", ["0500000000", "+966 51 234 5678"], default_region="SA")
report = drive(Delivery(voice.prepare(settings), 1, ledger=ledger, policy=policy).steps(), perform)
sms = SmsMessage("مرحبا 👋", ["966500000000"], scheduled_at=datetime.now(UTC) + timedelta(days=1))
sms_report = drive(Delivery(sms.prepare(settings), 100, policy=policy).steps(), perform)
reads = [
    drive(status.system_status(policy, log), perform).operational,
    str(drive(account.balance(policy, log), perform).balance),
    [s.name for s in drive(account.senders(policy, log), perform)],
    drive(sms_delete.delete_scheduled_sms(4711, policy, log), perform).message,
    drive(status.poll(log), perform).done,
]
mended = loose_json.decode_body("ResponseStatus: success, code: 200,")
audio = drive(audio_check.check("https://cdn.example.com/alert.mp3"),
              lambda probe: Answer(200, {"Content-Type": "audio/mpeg", "Content-Length": "1000"}))
window = quiet_hours.QuietHours.parse("22:00-07:00", timezone(timedelta(hours=3)))
print(json.dumps({
    "reached": reached,
    "voice": report.to_xcom()["accepted"],
    "sms": sms_report.to_xcom()["accepted"],
    "reads": reads,
    "mended": mended,
    "audio": audio.checked_with,
    "quiet": window.ends_after(datetime(2026, 1, 1, 21, 0, tzinfo=UTC)).isoformat(),
}))
"""


def test_the_cores_work_reads_no_environment_and_opens_no_file_socket_or_process():
    done = subprocess.run(
        [sys.executable, "-c", WORK, json.dumps(CORE)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["reached"] == []
    # The work was done, so the guards had something to watch.
    assert result["voice"] == ["966500000000", "966512345678"]
    assert result["sms"] == ["966500000000"]
    assert result["reads"] == [True, "12.5", ["Taqnyat.sa"], "Deleted successfully", True]
    assert result["mended"] == {"ResponseStatus": "success", "code": 200}
    assert result["audio"] == "HEAD"
    assert result["quiet"] == "2026-01-02T04:00:00+00:00"


def test_the_guards_would_see_a_read_of_the_environment_and_a_file():
    # The same guards around code that does reach out: the test above cannot pass by being blind.
    code = WORK.split("sys.addaudithook(audit)\nos.environ")[0] + (
        "sys.addaudithook(audit)\nos.environ = NoEnvironment()\n"
        "try:\n    os.environ.get('HTTPS_PROXY')\nexcept KeyError:\n    pass\n"
        "open(sys.executable, 'rb').close()\nprint(json.dumps(reached))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(CORE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    reached = json.loads(done.stdout.splitlines()[-1]) if done.returncode == 0 else done.stderr
    assert reached[0].startswith("os.environ") and reached[1].startswith("open"), reached
