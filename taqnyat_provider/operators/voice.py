"""Place Taqnyat voice calls from a task."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from taqnyat_provider.core.audio_check import DEFAULT_TIMEOUT_SECONDS
from taqnyat_provider.operators.base import SEND_TEMPLATE_FIELDS, TaqnyatSendOperator

if TYPE_CHECKING:
    from taqnyat_provider.core.connection_settings import ConnectionSettings
    from taqnyat_provider.core.endpoints.voice import VoiceCall
    from taqnyat_provider.core.sending import PreparedSend
    from taqnyat_provider.hooks.taqnyat import TaqnyatHook

CHECK_AUDIO_CHOICES = (True, False, "always")


def sandbox_connection(settings: ConnectionSettings) -> bool:
    """A plain-http loopback API base URL: the sandbox (or a local forwarder, rarely)."""
    from urllib.parse import urlsplit

    from taqnyat_provider.core.connection_settings import is_loopback_host

    parts = urlsplit(settings.base_url)
    return parts.scheme == "http" and is_loopback_host(parts.hostname)


class TaqnyatVoiceOperator(TaqnyatSendOperator):
    """
    Call each recipient once and play ``audio_url`` (``POST /voiceSend.php/``).

    Returns to XCom ``message_ids``, ``accepted``, ``rejected``, ``cost`` (a decimal string, SAR)
    and per-batch details. Every Taqnyat error code fails the task without Airflow retries.

    :param audio_url: Absolute http(s) URL of the audio file; templated.
    :param recipients: Numbers as a list, or one string separated by commas or new lines; templated.
    :param caller_id: Caller ID in international format; defaults to the connection's ``caller_id``
        extra; templated.
    :param check_audio: Before the first call, check that ``audio_url`` answers with a non-empty
        audio file (a ``HEAD``, or a ranged ``GET`` of its first 512 bytes), and fail otherwise:
        a 404, an HTML page or an empty file would make every paid call silent. ``True`` (default)
        checks, except that against the local sandbox (a plain-http loopback connection, which
        fetches no audio) only audio on loopback hosts is checked, so offline tests stay offline;
        ``"always"`` checks there too; ``False`` never checks (a worker that cannot reach the
        audio host while Taqnyat can). No credential is ever sent to the audio host, and a
        redirect to another host fails the check (see :mod:`taqnyat_provider.core.audio_check`).
    :param audio_check_timeout: Seconds to wait for each answer of the audio host (default 5); each
        request of the check ends within twice that.
    :param allow_private_audio_host: The check refuses, before connecting, an ``audio_url`` (or a
        redirect) whose host is or resolves to a loopback, private, link-local, multicast or
        reserved address (``TaqnyatAudioHostRefusedError``): ``audio_url`` may come from whoever
        triggers the DAG (a Param), and Taqnyat's servers could not fetch such a URL anyway. The
        local sandbox's loopback audio is allowed when the connection is the sandbox. ``True``
        (not templated: the DAG's author decides) lets the check reach any address.

    See :class:`~taqnyat_provider.operators.base.TaqnyatSendOperator` for ``batch_size``,
    ``fail_on_rejected``, ``default_region``, ``min_balance``, ``on_unknown``, ``quiet_hours``,
    ``quiet_hours_timezone``, ``urgent``, ``max_lateness``, ``dry_run``, ``max_recipients`` and
    ``taqnyat_conn_id``.
    """

    template_fields: Sequence[str] = ("audio_url", "recipients", "caller_id", *SEND_TEMPLATE_FIELDS)
    ui_color = "#d9eefb"

    def __init__(
        self,
        *,
        audio_url: str,
        recipients: Any,
        caller_id: str | None = None,
        check_audio: bool | str = True,
        audio_check_timeout: float = DEFAULT_TIMEOUT_SECONDS,
        allow_private_audio_host: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(recipients=recipients, **kwargs)
        self.audio_url = audio_url
        self.caller_id = caller_id
        if check_audio not in CHECK_AUDIO_CHOICES or not isinstance(check_audio, (bool, str)):
            raise ValueError(f"check_audio must be True, False or 'always', got {check_audio!r}")
        if isinstance(audio_check_timeout, bool) or not 0 < float(audio_check_timeout) <= 60:
            raise ValueError(
                f"audio_check_timeout must be between 0 and 60 seconds, got {audio_check_timeout!r}"
            )
        self.check_audio = check_audio
        self.audio_check_timeout = float(audio_check_timeout)
        if not isinstance(allow_private_audio_host, bool):
            raise ValueError(
                f"allow_private_audio_host must be True or False, got {allow_private_audio_host!r}"
            )
        self.allow_private_audio_host = allow_private_audio_host

    def preflight(self, hook: TaqnyatHook, prepared: PreparedSend) -> None:
        """The audio check (``check_audio``): raises before anyone is called when the file is unusable."""
        from urllib.parse import urlsplit

        from taqnyat_provider.core.audio_check import shown_url
        from taqnyat_provider.core.connection_settings import is_loopback_host
        from taqnyat_provider.hooks.audio import check_audio_url

        if self.check_audio is False:
            return
        url = prepared.fields["audioUrl"]
        settings = hook.settings
        if (
            self.check_audio is True
            and sandbox_connection(settings)
            and not is_loopback_host(urlsplit(url).hostname)
        ):
            self.log.info(
                "Audio check skipped for %s: the connection is the local sandbox, which fetches no audio "
                "(check_audio='always' checks it anyway)",
                shown_url(url),
            )
            return
        report = check_audio_url(
            url,
            settings,
            self.audio_check_timeout,
            allow_loopback=sandbox_connection(settings),
            allow_private_hosts=self.allow_private_audio_host,
        )
        for warning in report.warnings:
            self.log.warning("Audio check: %s", warning)
        self.log.info("Audio check: %s", report.describe())

    def message(self) -> VoiceCall:
        from taqnyat_provider.core.endpoints.voice import VoiceCall

        return VoiceCall(self.audio_url, self.recipients, self.caller_id, self.default_region)
