"""
Audio files for the voice calls' preflight, good and broken, under ``/_sandbox/audio/``.

``GET`` and ``HEAD`` of ``/_sandbox/audio/<name>`` (the name must end in an audio extension, as
``audioUrl`` must for the voice endpoint):

=========================== =====================================================================
name                        answer
=========================== =====================================================================
``404.mp3``                 404 with nginx's HTML page
``html.mp3``                200 ``text/html``: a CDN's sign-in page where the file should be
``disguised.mp3``           200 ``application/octet-stream`` whose bytes are an HTML page
``empty.mp3``               200 ``audio/mpeg``, ``Content-Length: 0``
``slow.mp3``                the file after ``?seconds=N`` (default 10) of silence on the socket
``503.mp3``                 503 with an HTML page (a CDN in trouble)
``elsewhere.mp3``           302 to the same file on another host (``localhost`` ⇄ ``127.0.0.1``)
``moved.mp3``               301 to ``reminder.mp3`` on the same host
``no-head.mp3``             405 to ``HEAD``; ``GET`` serves the file (servers without ``HEAD``)
anything else               a short, valid MP3 (``audio/mpeg``), with ``Range`` support
=========================== =====================================================================

Every request is recorded like an API request, with endpoint ``audio`` (its ``auth`` says whether
an ``Authorization`` header came along: it never should) and printed on the console.
"""

from __future__ import annotations

import asyncio
import re
from typing import TextIO

from aiohttp import web

from taqnyat_provider.sandbox.state import RecordedRequest, SandboxState

AUDIO_PREFIX = "/_sandbox/audio/"
_NAME = re.compile(r"[A-Za-z0-9_.\-]+\.(mp3|wav|ogg|m4a|gsm|aac|amr)")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_FRAME_HEADER = bytes.fromhex("fffb9064")  # MPEG-1 Layer III, 128 kbit/s, 44.1 kHz
_FRAME_BYTES = 417
MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + (_FRAME_HEADER + bytes(_FRAME_BYTES - 4)) * 12
"""About 0.3 s of silence: an ID3v2 header and twelve MPEG frames, a real MP3 as players read it."""
_SIGN_IN_PAGE = (
    "<!DOCTYPE html><html><head><title>Sign in</title></head>"
    "<body><form action='/login'><input name='user'></form></body></html>"
)
_NOT_FOUND_PAGE = (
    "<html><head><title>404 Not Found</title></head><body><h1>404 Not Found</h1><p>nginx</p></body></html>"
)
_UNAVAILABLE_PAGE = (
    "<html><head><title>503 Service Unavailable</title></head><body><h1>503</h1></body></html>"
)


def _serve_file(request: web.Request, data: bytes, content_type: str = "audio/mpeg") -> web.Response:
    """The file, or the part a ``Range: bytes=a-b`` asks for (206, or 416 when it starts past the end)."""
    headers = {"Accept-Ranges": "bytes"}
    match = _RANGE.fullmatch(request.headers.get("Range", "").strip())
    if match and (match.group(1) or match.group(2)):
        size = len(data)
        first, last = match.groups()
        if first:
            start, end = int(first), min(int(last) if last else size - 1, size - 1)
        else:  # a suffix: the last N bytes
            start, end = max(size - int(last), 0), size - 1
        if start >= size or start > end:
            return web.Response(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return web.Response(
            body=data[start : end + 1], status=206, content_type=content_type, headers=headers
        )
    return web.Response(body=data, content_type=content_type, headers=headers)


def _other_host(request: web.Request) -> str:
    host = "localhost" if request.url.host != "localhost" else "127.0.0.1"
    return f"{request.url.scheme}://{host}:{request.url.port}"


async def _answer(request: web.Request, name: str) -> web.StreamResponse:
    if name == "404.mp3":
        return web.Response(text=_NOT_FOUND_PAGE, status=404, content_type="text/html")
    if name == "html.mp3":
        return web.Response(text=_SIGN_IN_PAGE, content_type="text/html")
    if name == "disguised.mp3":
        return _serve_file(request, _SIGN_IN_PAGE.encode(), "application/octet-stream")
    if name == "empty.mp3":
        return web.Response(body=b"", content_type="audio/mpeg", headers={"Content-Length": "0"})
    if name == "503.mp3":
        return web.Response(text=_UNAVAILABLE_PAGE, status=503, content_type="text/html")
    if name == "elsewhere.mp3":
        raise web.HTTPFound(f"{_other_host(request)}{AUDIO_PREFIX}reminder.mp3")
    if name == "moved.mp3":
        raise web.HTTPMovedPermanently(f"{AUDIO_PREFIX}reminder.mp3")
    if name == "no-head.mp3" and request.method == "HEAD":
        return web.Response(status=405, headers={"Allow": "GET"})
    if name == "slow.mp3":
        try:
            seconds = float(request.query.get("seconds", "10"))
        except ValueError:
            seconds = 10.0
        await asyncio.sleep(min(max(seconds, 0.0), 300.0))
    return _serve_file(request, MP3)


def audio_routes(state: SandboxState, console: TextIO) -> list[web.RouteDef]:
    """The routes to add to the sandbox's application."""

    async def serve(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        header = request.headers.get("Authorization", "")
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            endpoint="audio",
            query=dict(request.query),
            headers={
                k: ("<redacted>" if k.lower() == "authorization" else v) for k, v in request.headers.items()
            },
            body=None,
            auth="missing" if not header else "present",
        )
        state.record(record)
        try:
            if not _NAME.fullmatch(name):
                response: web.StreamResponse = web.Response(
                    text=_NOT_FOUND_PAGE, status=404, content_type="text/html"
                )
            else:
                response = await _answer(request, name)
        except web.HTTPException as redirect:
            record.status = redirect.status
            print(
                f"[taqnyat-sandbox] {request.method} {request.path} -> {redirect.status} (audio)",
                file=console,
                flush=True,
            )
            raise
        record.status = response.status
        print(
            f"[taqnyat-sandbox] {request.method} {request.path} -> {response.status} (audio)",
            file=console,
            flush=True,
        )
        return response

    return [web.route("*", AUDIO_PREFIX + "{name}", serve)]
