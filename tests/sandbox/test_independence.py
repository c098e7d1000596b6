"""
The sandbox is written apart from the client: it imports nothing of ``taqnyat_provider`` outside
``taqnyat_provider.sandbox``, and its error table and SMS part counting, written from the API
reference and GSM 03.38 on their own, say what the client's say. Were they shared, a mistake in the
client would be answered back by the sandbox and no test against it could see it.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

import taqnyat_provider.sandbox
from taqnyat_provider.core import error_codes
from taqnyat_provider.core.sms_text import measure_sms
from taqnyat_provider.sandbox import errors, segments
from tests.sandbox.client import SMS, TOKEN

SANDBOX_DIR = Path(taqnyat_provider.sandbox.__file__).parent


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """``(line, absolute module name)`` of every import in a sandbox file, at any depth."""
    found = []
    package = "taqnyat_provider.sandbox"  # every file sits directly in it
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the sandbox package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                found.append((node.lineno, f"{base}.{node.module}" if node.module else base))
            else:
                found.append((node.lineno, node.module or ""))
    return found


def test_no_sandbox_file_imports_the_client():
    files = sorted(SANDBOX_DIR.glob("*.py"))
    assert {path.name for path in files} >= {"app.py", "errors.py", "segments.py", "server.py", "state.py"}
    outside = [
        f"{path.name}:{line}: {module}"
        for path in files
        for line, module in _imported_modules(path)
        if (module == "taqnyat_provider" or module.startswith("taqnyat_provider."))
        and not (module == "taqnyat_provider.sandbox" or module.startswith("taqnyat_provider.sandbox."))
    ]
    assert outside == []


def test_the_ast_check_sees_an_import_of_the_client(tmp_path):
    # The check above must be able to fail: a file importing the client's table is caught.
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f():\n    from taqnyat_provider import error_codes\n    import taqnyat_provider.core.sms_text\n"
        "from .. import recipients\n"
    )
    modules = sorted(module for _, module in _imported_modules(sample))
    # ``from .. import recipients`` resolves to the package root: outside the sandbox too.
    assert modules == ["taqnyat_provider", "taqnyat_provider", "taqnyat_provider.core.sms_text"]


def test_a_fresh_interpreter_running_the_sandbox_loads_no_client_module():
    # Every sandbox module imported, a server started and one SMS sent through it: whatever the
    # code does lazily at run time is loaded too. Only the package's own __init__ (the version) may
    # come along.
    script = """
import json, sys, urllib.request
import taqnyat_provider.sandbox.__main__, taqnyat_provider.sandbox.audio
from taqnyat_provider.sandbox import SandboxServer
with SandboxServer(token="t0k", console=open("/dev/null", "w")) as server:
    request = urllib.request.Request(
        server.base_url + "/v1/messages",
        data=json.dumps({"sender": "Taqnyat.sa", "recipients": ["966500000000"], "body": "€" * 90}).encode(),
        headers={"Authorization": "Bearer t0k", "Content-Type": "application/json"},
    )
    answer = json.load(urllib.request.urlopen(request))
    voice = urllib.request.Request(
        server.base_url + "/voiceSend.php", data=b"{}", headers={"Authorization": "Bearer nope"}
    )
    try:
        urllib.request.urlopen(voice)
    except urllib.error.HTTPError as error:
        refused = json.load(error)
print(json.dumps({
    "modules": sorted(name for name in sys.modules if name.startswith("taqnyat_provider")),
    "msgLength": answer["msgLength"],
    "refused": refused["Error"]["ErrorCode"],
}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["msgLength"] == 2  # 90 euro signs are 180 septets: two parts
    assert result["refused"] == errors.INVALID_TOKEN
    # The package itself loads its finder of 0.2.0's module paths: import plumbing, no client code.
    client = [
        name
        for name in result["modules"]
        if name not in ("taqnyat_provider", "taqnyat_provider._moved")
        and not name.startswith("taqnyat_provider.sandbox")
    ]
    assert client == []
    assert "taqnyat_provider.sandbox.errors" in result["modules"]
    assert "taqnyat_provider.sandbox.segments" in result["modules"]


# --------------------------------------------------------------------------------------------------
# The error tables


def test_both_tables_know_the_same_codes():
    assert set(errors.ERRORS) == set(error_codes.CATALOG)
    assert len(errors.ERRORS) == 8  # 2, 3, 14, 15, 17, 101, 102, 104: the reference's list


@pytest.mark.parametrize("code", sorted(error_codes.CATALOG))
def test_each_code_has_the_same_status_and_texts(code):
    ours, theirs = errors.ERRORS[code], error_codes.CATALOG[code]
    assert (ours.code, ours.http_status, ours.message_en, ours.message_ar) == (
        theirs.code,
        theirs.http_status,
        theirs.message_en,
        theirs.message_ar,
    )
    assert ours.description  # the reference's explanation, which the client words as its own remedy


def test_the_named_constants_agree():
    for name in (
        "BALANCE_EMPTY",
        "BALANCE_NOT_ENOUGH",
        "INVALID_CALLER_ID",
        "INVALID_RECIPIENTS",
        "AUDIO_FILE_ERROR",
        "API_SENDING_DISABLED",
        "IP_NOT_AUTHORIZED",
        "INVALID_TOKEN",
    ):
        assert getattr(errors, name) == getattr(error_codes, name), name


def test_the_sandbox_table_matches_the_reference_text():
    # Each English and Arabic text stands in the reference itself, next to its code.
    reference = Path("/work/shared/reference/taqnyat-api-reference.txt")
    if not reference.exists():
        pytest.skip("the API reference is not on this machine")
    text = reference.read_text(encoding="utf-8")
    for error in errors.ERRORS.values():
        block = text.split(f'"ErrorCode": {error.code},', 1)[1][:300]
        assert error.message_ar in block and error.message_en in block, error.code
        assert f"{error.code} {error.message_en} {error.description}" in text, error.code


# --------------------------------------------------------------------------------------------------
# SMS parts

ARABIC = "مرحبا بكم في خدمة الرسائل "
ARABIC_DIACRITICS = "بِسْمِ اللَّهِ الرَّحْمَٰنِ الرَّحِيمِ "
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # one emoji, 11 UTF-16 units
FLAG = "\U0001f1f8\U0001f1e6"  # 🇸🇦
RAINBOW_FLAG = "\U0001f3f3\ufe0f\u200d\U0001f308"
SKIN_TONE = "\U0001f44d\U0001f3fd"


def _corpus() -> list[str]:
    texts = ["", "a", "Hello", "Your code is 123456", "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ ¡¿ÄÖÑÜ§äöñüà"]
    texts += ["€", "^", "{", "}", "[", "]", "~", "|", "\\", "\f", "€^{}[]~|\\"]
    texts += [ARABIC, ARABIC_DIACRITICS, FAMILY, FLAG, RAINBOW_FLAG, SKIN_TONE, "ok 👍", "Price: 10 € 🙂"]
    texts += ["Arabic and Latin: " + ARABIC, "تأكيد الحجز رقم 4521 - Booking confirmed"]
    for length in (69, 70, 71, 133, 134, 135, 200, 201, 268, 670, 671):
        texts += ["ب" * length, ("ا" + "\u064e") * (length // 2) + "ك" * (length % 2)]
    for length in (159, 160, 161, 305, 306, 307, 459, 460, 1530, 1531):
        texts += ["x" * length, "x" * (length - 1) + "€", "{" * (length // 2)]
    for k in range(1, 8):  # 153*k septets: exactly full parts, and one more
        texts += ["a" * (153 * k), "a" * (153 * k + 1), "a" * (153 * k - 1) + "€", "€" * (153 * k // 2)]
        texts += ["b" * (67 * k), "b" * (67 * k - 1) + "😀", "😀" * (67 * k // 2)]
    for boundary in (69, 70, 71, 133, 134, 135, 200, 201):
        texts += ["ع" * (boundary - 2) + FAMILY[:2], "a" * (boundary - 1) + "😀", FAMILY * (boundary // 11)]
        texts += ["ok " * (boundary // 3) + FLAG, SKIN_TONE * (boundary // 4) + "x"]
    for length in (152, 153, 154, 160, 161):  # an escape pair on a part's last septet
        texts += ["y" * (length - 1) + "€" + "y" * 200, "y" * (length - 1) + "^" * 160]
    return texts


CORPUS = list(dict.fromkeys(_corpus()))


def test_the_corpus_reaches_every_boundary():
    counted = {(measure_sms(text).encoding, measure_sms(text).segments) for text in CORPUS if text}
    assert {("GSM-7", parts) for parts in (1, 2, 3, 8)} <= counted
    assert {("UCS-2", parts) for parts in (1, 2, 3, 8)} <= counted
    assert len(CORPUS) > 150


@pytest.mark.parametrize("text", CORPUS, ids=lambda text: f"{len(text)}:{text[:12]!r}")
def test_the_sandbox_and_the_client_count_the_same_parts(text):
    encoding, units, parts = segments.count_parts(text)
    client = measure_sms(text)
    assert (encoding, units, parts) == (client.encoding, client.units, client.segments)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * 160, ("GSM-7", 160, 1)),
        ("a" * 161, ("GSM-7", 161, 2)),
        ("a" * 306, ("GSM-7", 306, 2)),
        ("a" * 307, ("GSM-7", 307, 3)),
        ("€" * 80, ("GSM-7", 160, 1)),
        ("€" * 81, ("GSM-7", 162, 2)),
        ("a" * 152 + "€" + "a" * 10, ("GSM-7", 164, 2)),  # the pair is not cut: 152 + (2 + 10)
        ("a" * 152 + "€" + "a" * 153, ("GSM-7", 307, 3)),
        ("ب" * 70, ("UCS-2", 70, 1)),
        ("ب" * 71, ("UCS-2", 71, 2)),
        ("ب" * 134, ("UCS-2", 134, 2)),
        ("ب" * 135, ("UCS-2", 135, 3)),
        ("a" * 69 + "€" + "ب", ("UCS-2", 71, 2)),  # one Arabic letter makes the euro sign 1 unit
        ("😀" * 35, ("UCS-2", 70, 1)),
        ("a" * 66 + "😀" + "a" * 3, ("UCS-2", 71, 2)),  # the pair is not cut: 66 + (2 + 3)
        (FAMILY, ("UCS-2", 11, 1)),
    ],
)
def test_known_counts(text, expected):
    # Both counters against numbers worked out by hand, so that agreement is not agreement in error.
    assert segments.count_parts(text) == expected
    client = measure_sms(text)
    assert (client.encoding, client.units, client.segments) == expected


def test_the_sandbox_bills_the_parts_it_counts(api):
    body = "€" * 81  # 162 septets: 2 parts, where a count by characters would say 1
    answer = requests.post(
        api.base_url + "/v1/messages",
        json={**SMS, "body": body},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["msgLength"] == 2
    assert api.state.messages[-1]["body"] == body
