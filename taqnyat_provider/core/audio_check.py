"""
The audio preflight: before anyone is called, is the voice call's ``audio_url`` a non-empty audio file?

A broken ``audioUrl`` makes every call silent, and every call is paid: Taqnyat refuses a send with
error 17 only when it can tell outright, while a URL answering 404, an HTML page or an empty file
may still be dialled. So the voice operator checks it first, cheaply: a ``HEAD`` (no body), and a
ranged ``GET`` of the first :data:`SNIFF_BYTES` bytes when the ``HEAD`` is refused (servers that do
not implement it, pre-signed URLs signed for ``GET`` only) or does not tell enough (no length, an
``application/octet-stream`` type).

The rules, decided here; a transport (:mod:`taqnyat_provider.hooks.audio`) only performs each
:class:`Probe` and returns an :class:`~taqnyat_provider.core.steps.Answer`:

* **Never a credential.** A probe carries no ``Authorization`` header, no cookie and no user info
  from the URL: the audio host is not Taqnyat, and the token is Taqnyat's.
* **Fails for good** (:class:`~taqnyat_provider.core.errors.TaqnyatInvalidAudioError`, not retried):
  404/410, 401/403 (the host refuses access), another 4xx, an HTML/JSON/text/image answer, an empty
  file (``Content-Length: 0``, no bytes, or 416 for the first byte), a redirect to another host.
* **May pass later** (:class:`~taqnyat_provider.core.errors.TaqnyatAudioUnavailableError`, retried):
  no answer within the timeout, a refused connection, a 5xx or a 429 of the audio host.
* **Public hosts only.** Before each probe (each redirect too) the transport resolves the host, and
  :func:`refuse_internal_host` refuses a loopback, private, link-local, multicast, reserved or
  otherwise non-global address (IPv4, IPv6, IPv4-mapped IPv6), whether written in the URL or
  resolved from a name, with :class:`~taqnyat_provider.core.errors.TaqnyatAudioHostRefusedError`,
  before any connection: ``audio_url`` may come from whoever triggers a DAG, and Taqnyat's servers
  could never fetch such a URL. The local sandbox's loopback audio is allowed with a sandbox
  connection; ``allow_private_audio_host=True`` on the voice operator allows every address.
* **Nothing of the answer in errors.** An error names the status and the kind of answer, never its
  bytes, and every transport failure reads the same (a refused port, a timeout or a dropped
  connection), so the check cannot serve as a port scanner.
* **Redirects.** Followed on the same host (http to https included), at most
  :data:`MAX_REDIRECTS`. A redirect to *another* host is not followed: Taqnyat's servers fetch the
  URL the task gives, and the reference does not say they follow redirects; a cross-host hop is
  also where a URL stops being the one that was reviewed. Give the final URL instead.
* **Audio or not.** ``audio/*`` and ``application/ogg`` are audio; ``text/*``, JSON, XML and
  ``image/*`` are not. Anything else (``application/octet-stream``, as S3 serves files uploaded
  without a type, or no type at all) is judged by its first bytes: markup or JSON fails, a known
  audio signature passes, anything else passes with a warning.

No Airflow and no I/O here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

from taqnyat_provider.core.errors import (
    TaqnyatAudioHostRefusedError,
    TaqnyatAudioUnavailableError,
    TaqnyatInvalidAudioError,
)
from taqnyat_provider.core.steps import Answer, TransportError

SNIFF_BYTES = 512
"""How much of the file a ranged ``GET`` reads: enough for any audio signature and an HTML page's start."""
MAX_REDIRECTS = 3
DEFAULT_TIMEOUT_SECONDS = 5.0
"""Per probe; the operators' ``audio_check_timeout``. Short: a CDN that takes longer is in trouble."""

_AUDIO_TYPES = ("application/ogg",)
_NOT_AUDIO_PREFIXES = ("text/", "image/")
_NOT_AUDIO_TYPES = (
    "application/json",
    "application/xml",
    "application/xhtml+xml",
    "application/javascript",
    "application/problem+json",
)
_FALLBACK_STATUSES = frozenset({400, 403, 405, 406, 501})
"""HEAD answers that say nothing about the file: servers without HEAD, URLs signed for GET only."""


@dataclass(frozen=True)
class Probe:
    """One request to the audio host: ``HEAD``, or ``GET`` of the first bytes. ``headers`` are all it sends."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AudioReport:
    """A URL that passed: what the host said about it."""

    url: str
    content_type: str | None
    size: int | None
    checked_with: str
    redirects: int = 0
    warnings: tuple[str, ...] = ()

    def describe(self) -> str:
        size = f"{self.size} bytes" if self.size is not None else "size not given"
        kind = self.content_type or "no content type"
        hops = f", after {self.redirects} redirect(s)" if self.redirects else ""
        return f"{shown_url(self.url)} is audio ({kind}, {size}; {self.checked_with}{hops})"


def _netloc_without_user_info(parts: SplitResult) -> str:
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address goes back in brackets
        host = f"[{host}]"
    return f"{host}:{parts.port}" if parts.port else host


def shown_url(url: str) -> str:
    """The URL as logs and errors show it: no user info, and the query (a signature, say) elided."""
    parts = urlsplit(url)
    netloc = _netloc_without_user_info(parts)
    return urlunsplit((parts.scheme, netloc, parts.path, "…" if parts.query else "", ""))


def _probe_url(url: str) -> str:
    """The URL to request: without user info (never sent as credentials) and without a fragment."""
    parts = urlsplit(url)
    netloc = _netloc_without_user_info(parts)
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def _origin(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return (parts.hostname or "").lower(), parts.port or default


def _same_host(current: str, target: str) -> bool:
    """Same host and port; http to https on the default ports counts (an upgrade, not a new host)."""
    (host, port), (new_host, new_port) = _origin(current), _origin(target)
    if host != new_host:
        return False
    upgrade = urlsplit(current).scheme == "http" and urlsplit(target).scheme == "https"
    return port == new_port or (upgrade and (port, new_port) == (80, 443))


def _media_type(headers: Mapping[str, str]) -> str | None:
    value = headers.get("Content-Type") or headers.get("content-type")
    return value.split(";", 1)[0].strip().lower() or None if value else None


def _length(headers: Mapping[str, str]) -> int | None:
    value = (headers.get("Content-Length") or headers.get("content-length") or "").strip()
    return int(value) if value.isdigit() else None


def _total_from_range(headers: Mapping[str, str]) -> int | None:
    """``Content-Range: bytes 0-511/48213`` → 48213 (None for ``/*`` or no header)."""
    value = headers.get("Content-Range") or headers.get("content-range") or ""
    total = value.rpartition("/")[2].strip()
    return int(total) if total.isdigit() else None


def _kind_of_type(media_type: str | None) -> str:
    """``audio``, ``not-audio`` or ``unknown`` (judged by the bytes)."""
    if media_type is None:
        return "unknown"
    if media_type.startswith("audio/") or media_type in _AUDIO_TYPES:
        return "audio"
    if media_type.startswith(_NOT_AUDIO_PREFIXES) or media_type in _NOT_AUDIO_TYPES:
        return "not-audio"
    if media_type.endswith(("+json", "+xml")):
        return "not-audio"
    return "unknown"


def sniff(head: bytes) -> str:
    """What the first bytes look like: ``audio``, ``markup``, ``json`` or ``unknown``."""
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if start[:1] == b"<":
        return "markup"
    if start[:1] in (b"{", b"["):
        return "json"
    if head.startswith((b"ID3", b"OggS", b"fLaC", b"#!AMR")) or (
        head[:4] == b"RIFF" and head[8:12] == b"WAVE"
    ):
        return "audio"
    if head[4:8] == b"ftyp":  # MP4/M4A
        return "audio"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # MPEG audio / ADTS frame sync
        return "audio"
    return "unknown"


def _status_error(status: int, url: str) -> TaqnyatInvalidAudioError | TaqnyatAudioUnavailableError:
    if status == 429 or status >= 500:
        return TaqnyatAudioUnavailableError(
            f"the audio host answered HTTP {status} (a temporary failure)",
            url=shown_url(url),
            http_status=status,
        )
    if status in (404, 410):
        reason = "the file is not there"
    elif status in (401, 403):
        reason = "the audio host refuses access (Taqnyat's servers would be refused too)"
    else:
        reason = "the audio host refused the request"
    return TaqnyatInvalidAudioError(f"HTTP {status}: {reason}", url=shown_url(url), http_status=status)


UNREACHABLE = "the audio host could not be reached, or did not answer in time"

# What each kind of address is called in an error, in the order they are tested: 169.254.0.0/16 is
# private as well as link-local, and link-local says more.
_ADDRESS_KINDS = ("loopback", "unspecified", "link_local", "multicast", "private", "reserved")


def address_kind(address: str) -> str | None:
    """
    Why ``address`` is no public audio host (``"loopback"``, ``"private"``, ...), or None when it
    is one. An IPv6 address that carries an IPv4 one (``::ffff:10.0.0.1``, 6to4) is judged by it.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone id: fe80::1%eth0
    except ValueError:
        return "unreadable"
    if isinstance(ip, ipaddress.IPv6Address):  # an IPv4 address inside (mapped, 6to4) is judged as itself
        ip = ip.ipv4_mapped or ip.sixtofour or ip
    for kind in _ADDRESS_KINDS:
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if ip.is_global else "non-public"


def refuse_internal_host(url: str, addresses: Iterable[str], *, allow_loopback: bool = False) -> None:
    """
    Refuse ``url`` when any address its host resolves to is not public; ``allow_loopback`` lets
    loopback through (the local sandbox's audio). The error names the kind, not the address.
    """
    for address in addresses:
        kind = address_kind(address)
        if kind is None or (kind == "loopback" and allow_loopback):
            continue
        literal = address_kind(urlsplit(url).hostname or "") != "unreadable"
        what = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} address"
        raise TaqnyatAudioHostRefusedError(
            f"its host is {what}" if literal else f"its host resolves to {what}",
            url=shown_url(url),
        )


def _redirect_target(answer: Answer, current: str, hops: int) -> str:
    location = (answer.headers.get("Location") or answer.headers.get("location") or "").strip()
    if not location:
        raise TaqnyatInvalidAudioError(
            f"HTTP {answer.status} redirect without a Location",
            url=shown_url(current),
            http_status=answer.status,
        )
    target = urljoin(current, location)
    if urlsplit(target).scheme.lower() not in ("http", "https"):
        raise TaqnyatInvalidAudioError(
            f"redirects to a non-http URL {shown_url(target)}",
            url=shown_url(current),
            http_status=answer.status,
        )
    if not _same_host(current, target):
        raise TaqnyatInvalidAudioError(
            f"redirects (HTTP {answer.status}) to another host, {shown_url(target)}, which the check does not "
            "follow: Taqnyat's servers fetch the URL as given. Use the final URL as audio_url",
            url=shown_url(current),
            http_status=answer.status,
        )
    if hops >= MAX_REDIRECTS:
        raise TaqnyatInvalidAudioError(
            f"more than {MAX_REDIRECTS} redirects", url=shown_url(current), http_status=answer.status
        )
    return target


def _judge_type(media_type: str | None, head: bytes | None, url: str, status: int) -> list[str]:
    """Fail when the answer is not audio; the warnings to log when it cannot be told for sure."""
    kind = _kind_of_type(media_type)
    if kind == "not-audio":
        what = "an HTML page" if media_type in ("text/html", "application/xhtml+xml") else media_type
        raise TaqnyatInvalidAudioError(
            f"not audio: the host serves {what} (Content-Type {media_type})",
            url=shown_url(url),
            http_status=status,
        )
    if head is None:
        return []
    bytes_kind = sniff(head)
    if bytes_kind in ("markup", "json"):
        what = "an HTML/XML page" if bytes_kind == "markup" else "JSON"
        raise TaqnyatInvalidAudioError(
            f"not audio: the file starts like {what} although its type is {media_type or 'not given'}",
            url=shown_url(url),
            http_status=status,
        )
    if kind == "unknown" and bytes_kind == "unknown":
        return [
            f"{shown_url(url)}: Content-Type {media_type or 'not given'} and the first bytes match no known "
            "audio format (MP3, WAV, OGG, FLAC, M4A, AMR); calling anyway"
        ]
    return []


def check(url: str) -> Generator[Probe, Answer, AudioReport]:
    """
    The preflight as a generator: it yields each :class:`Probe`, receives its ``Answer`` (a ranged
    ``GET``'s body holds at most :data:`SNIFF_BYTES` bytes), and returns the report or raises.

    A probe that got no answer has its :class:`~taqnyat_provider.core.steps.TransportError` thrown in.
    A transport drives it with :func:`~taqnyat_provider.core.steps.drive`, as it drives the API's calls.
    """
    current = _probe_url(url)
    method = "HEAD"
    hops = 0
    while True:
        headers = {"Range": f"bytes=0-{SNIFF_BYTES - 1}"} if method == "GET" else {}
        try:
            answer = yield Probe(method, current, headers)
        except TransportError:
            # One text for a refused port, a timeout and a dropped connection: which one it was
            # would tell a port scanner what listens where.
            raise TaqnyatAudioUnavailableError(UNREACHABLE, url=shown_url(current)) from None
        status = answer.status
        if status in (301, 302, 303, 307, 308):
            current = _redirect_target(answer, current, hops)
            hops += 1
            continue
        if method == "HEAD" and (status in _FALLBACK_STATUSES or status >= 500):
            method = "GET"  # servers without HEAD, GET-only signed URLs; a 5xx gets one more chance
            continue
        if status == 416:
            raise TaqnyatInvalidAudioError(
                "the file is empty (HTTP 416 for its first byte)", url=shown_url(current), http_status=status
            )
        if not 200 <= status < 300:
            raise _status_error(status, current)
        media_type = _media_type(answer.headers)
        size = _length(answer.headers) if status != 206 else _total_from_range(answer.headers)
        if method == "HEAD":
            if size == 0:
                raise TaqnyatInvalidAudioError(
                    "the file is empty (Content-Length: 0)", url=shown_url(current), http_status=status
                )
            _judge_type(media_type, None, current, status)
            if size is not None and _kind_of_type(media_type) == "audio":
                return AudioReport(current, media_type, size, "HEAD", hops)
            method = "GET"  # no length, or a type that needs a look at the bytes
            continue
        if size == 0 or not answer.body:
            raise TaqnyatInvalidAudioError(
                "the file is empty (no bytes)", url=shown_url(current), http_status=status
            )
        warnings = _judge_type(media_type, answer.body, current, status)
        return AudioReport(current, media_type, size, "ranged GET", hops, tuple(warnings))
