"""The audio preflight's rules, against scripted answers: which probe goes out and what each answer means."""

from __future__ import annotations

import pytest

from taqnyat_provider.core import audio_check
from taqnyat_provider.core.audio_check import AudioReport, Probe, shown_url, sniff
from taqnyat_provider.core.steps import Answer, Failure, TransportError, drive
from taqnyat_provider.exceptions import (
    TaqnyatAudioCheckError,
    TaqnyatAudioHostRefusedError,
    TaqnyatAudioUnavailableError,
    TaqnyatInvalidAudioError,
)

URL = "https://cdn.example.com/audio/alert.mp3"
MP3_HEAD = b"ID3\x03\x00" + bytes(100)


def scripted(*answers: Answer | TransportError):
    """A perform() answering in order; records each probe."""
    probes: list[Probe] = []
    queue = list(answers)

    def perform(probe: Probe) -> Answer:
        probes.append(probe)
        answer = queue.pop(0)
        if isinstance(answer, TransportError):
            raise answer
        return answer

    return perform, probes


def run(*answers, url: str = URL) -> tuple[AudioReport, list[Probe]]:
    perform, probes = scripted(*answers)
    return drive(audio_check.check(url), perform), probes


def fails(
    kind: type[TaqnyatAudioCheckError], *answers, url: str = URL
) -> tuple[TaqnyatAudioCheckError, list[Probe]]:
    perform, probes = scripted(*answers)
    with pytest.raises(kind) as raised:
        drive(audio_check.check(url), perform)
    return raised.value, probes


def test_a_head_with_an_audio_type_and_a_length_is_enough():
    report, probes = run(Answer(200, {"Content-Type": "audio/mpeg", "Content-Length": "48213"}))
    assert [(p.method, p.url, dict(p.headers)) for p in probes] == [("HEAD", URL, {})]
    assert (report.content_type, report.size, report.checked_with) == ("audio/mpeg", 48213, "HEAD")
    assert report.describe() == f"{URL} is audio (audio/mpeg, 48213 bytes; HEAD)"


def test_head_refused_falls_back_to_a_ranged_get():
    for status in (403, 405, 501):
        report, probes = run(
            Answer(status),
            Answer(206, {"Content-Type": "audio/mpeg", "Content-Range": "bytes 0-511/9000"}, MP3_HEAD),
        )
        assert [p.method for p in probes] == ["HEAD", "GET"]
        assert probes[1].headers == {"Range": "bytes=0-511"}
        assert (report.size, report.checked_with) == (9000, "ranged GET")


def test_an_octet_stream_is_judged_by_its_bytes():
    head = Answer(200, {"Content-Type": "binary/octet-stream", "Content-Length": "9000"})
    report, probes = run(head, Answer(206, {"Content-Type": "binary/octet-stream"}, MP3_HEAD))
    assert [p.method for p in probes] == ["HEAD", "GET"] and report.warnings == ()
    error, _ = fails(TaqnyatInvalidAudioError, head, Answer(206, {}, b"\n  <!DOCTYPE html><html>"))
    assert "starts like an HTML/XML page" in str(error)
    report, _ = run(head, Answer(206, {}, b"\x00\x01\x02\x03 unknown codec"))
    assert report.warnings and "match no known audio format" in report.warnings[0]


@pytest.mark.parametrize(
    ("head", "get", "expected"),
    [
        (Answer(404), None, "HTTP 404: the file is not there"),
        (Answer(410), None, "HTTP 410: the file is not there"),
        (
            Answer(200, {"Content-Type": "text/html; charset=utf-8", "Content-Length": "300"}),
            None,
            "an HTML page",
        ),
        (Answer(200, {"Content-Type": "application/json", "Content-Length": "30"}), None, "application/json"),
        (Answer(200, {"Content-Type": "image/png", "Content-Length": "30"}), None, "image/png"),
        (
            Answer(200, {"Content-Type": "audio/mpeg", "Content-Length": "0"}),
            None,
            "empty (Content-Length: 0)",
        ),
        (
            Answer(200, {"Content-Type": "audio/mpeg"}),
            Answer(200, {"Content-Type": "audio/mpeg"}, b""),
            "empty (no bytes)",
        ),
        (Answer(405), Answer(416, {"Content-Range": "bytes */0"}), "empty (HTTP 416"),
        (Answer(405), Answer(401), "HTTP 401: the audio host refuses access"),
        (Answer(405), Answer(404), "HTTP 404"),
    ],
)
def test_what_fails_for_good(head, get, expected):
    error, _ = fails(TaqnyatInvalidAudioError, *([head] if get is None else [head, get]))
    assert expected in str(error)
    assert not error.retryable
    assert "Nobody was called" in str(error) and "check_audio=False" in str(error)


@pytest.mark.parametrize(
    "answers",
    [
        [TransportError(Failure.TIMED_OUT, "ReadTimeout")],
        [TransportError(Failure.NOT_CONNECTED, "ConnectionError")],
        [Answer(503), Answer(503)],
        [Answer(500), Answer(502)],
        [Answer(429)],
        [Answer(405), TransportError(Failure.DROPPED, "ChunkedEncodingError")],
    ],
)
def test_what_may_pass_later(answers):
    error, _ = fails(TaqnyatAudioUnavailableError, *answers)
    assert error.retryable


def test_every_transport_failure_reads_the_same():
    # A refused port, a timeout and a dropped connection told apart would make a port scanner.
    texts = {
        str(fails(TaqnyatAudioUnavailableError, TransportError(failure, detail))[0])
        for failure, detail in [
            (Failure.NOT_CONNECTED, "ConnectionRefusedError"),
            (Failure.TIMED_OUT, "ReadTimeout"),
            (Failure.DROPPED, "RemoteDisconnected"),
        ]
    }
    assert len(texts) == 1
    assert "Refused" not in texts.pop()


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.2", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("192.168.1.10", "private"),
        ("172.16.0.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("2002:a00:1::", "private"),  # 6to4 around 10.0.0.1
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
        ("8.8.8.8", None),
        ("2001:4860:4860::8888", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_address_kinds(address, kind):
    assert audio_check.address_kind(address) == kind


def test_a_public_host_passes_and_loopback_only_when_allowed():
    audio_check.refuse_internal_host("https://cdn.example.com/a.mp3", ["93.184.216.34", "2606:2800::1"])
    audio_check.refuse_internal_host("http://localhost/a.mp3", ["127.0.0.1", "::1"], allow_loopback=True)
    with pytest.raises(TaqnyatAudioHostRefusedError, match="resolves to a private address"):
        audio_check.refuse_internal_host("https://cdn.example.com/a.mp3", ["93.184.216.34", "10.0.0.7"])
    with pytest.raises(TaqnyatAudioHostRefusedError, match="is a private address"):
        audio_check.refuse_internal_host("http://10.0.0.1/a.mp3", ["10.0.0.1"], allow_loopback=True)


def test_a_5xx_head_gets_one_more_chance_with_get():
    report, probes = run(
        Answer(500),
        Answer(200, {"Content-Type": "audio/wav", "Content-Length": "44"}, b"RIFF\x00\x00\x00\x00WAVEfmt "),
    )
    assert [p.method for p in probes] == ["HEAD", "GET"] and report.size == 44


def test_same_host_redirects_are_followed_other_hosts_are_not():
    ok = Answer(200, {"Content-Type": "audio/mpeg", "Content-Length": "10"})
    report, probes = run(Answer(301, {"Location": "/audio/v2/alert.mp3"}), ok)
    assert probes[1].url == "https://cdn.example.com/audio/v2/alert.mp3" and report.redirects == 1
    # http -> https on the same host is an upgrade, not another host.
    report, probes = run(
        Answer(308, {"Location": "https://cdn.example.com/a.mp3"}), ok, url="http://cdn.example.com/a.mp3"
    )
    assert probes[1].url == "https://cdn.example.com/a.mp3"
    error, probes = fails(
        TaqnyatInvalidAudioError, Answer(302, {"Location": "https://evil.example.net/a.mp3"})
    )
    assert len(probes) == 1
    assert "redirects (HTTP 302) to another host, https://evil.example.net/a.mp3" in str(error)
    error, _ = fails(
        TaqnyatInvalidAudioError, Answer(302, {"Location": "https://cdn.example.com:8443/a.mp3"})
    )
    assert "another host" in str(error)
    error, _ = fails(TaqnyatInvalidAudioError, *[Answer(302, {"Location": f"/{n}.mp3"}) for n in range(4)])
    assert "more than 3 redirects" in str(error)
    error, _ = fails(TaqnyatInvalidAudioError, Answer(302, {"Location": "ftp://cdn.example.com/a.mp3"}))
    assert "non-http" in str(error)


def test_no_credentials_and_no_signature_in_messages():
    signed = "https://user:secret@bucket.s3.amazonaws.com/a.mp3?X-Amz-Signature=abc123#t=1"
    error, probes = fails(TaqnyatInvalidAudioError, Answer(404), url=signed)
    # The probe goes without the user info and the fragment; the query (the signature) is needed.
    assert probes[0].url == "https://bucket.s3.amazonaws.com/a.mp3?X-Amz-Signature=abc123"
    assert probes[0].headers == {}
    assert "secret" not in str(error) and "abc123" not in str(error)
    assert "https://bucket.s3.amazonaws.com/a.mp3?…" in str(error)
    assert shown_url("http://[::1]:8080/a.mp3?x=1") == "http://[::1]:8080/a.mp3?…"


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"ID3\x04", "audio"),
        (b"\xff\xfb\x90\x64", "audio"),
        (b"\xff\xf1\x50\x80", "audio"),
        (b"RIFF\x24\x00\x00\x00WAVE", "audio"),
        (b"OggS\x00", "audio"),
        (b"fLaC", "audio"),
        (b"\x00\x00\x00\x20ftypM4A ", "audio"),
        (b"#!AMR\n", "audio"),
        (b"\xef\xbb\xbf<?xml version", "markup"),
        (b'  {"error": "x"}', "json"),
        (b"plain text", "unknown"),
    ],
)
def test_sniff(head, kind):
    assert sniff(head) == kind
