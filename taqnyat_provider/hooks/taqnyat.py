"""
The Taqnyat hook: a thin ``requests`` transport over the pure core.

``TaqnyatHook`` only knows how to perform one request, one wait and one blocking call; what to
send, when to retry and how a batched send is kept in the send ledger are the core's steps
(:mod:`taqnyat_provider.core.steps`). Its asyncio twin is
:class:`~taqnyat_provider.hooks.taqnyat_async.TaqnyatAsyncHook`. The hook owns its HTTP session, as
the Slack provider owns its client: the http provider's private session plumbing is not used.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import requests
from airflow.providers.http.hooks.http import HttpHook

from taqnyat_provider.core.connection_settings import CONN_TYPE, DEFAULT_CONN_ID, ConnectionSettings
from taqnyat_provider.core.delivery import DEFAULT_BATCH_SIZE, DeliveryReport
from taqnyat_provider.core.endpoints import account, sms_delete, status
from taqnyat_provider.core.endpoints.account import Balance, Sender
from taqnyat_provider.core.endpoints.sms import SmsMessage
from taqnyat_provider.core.endpoints.sms_delete import Acknowledgement
from taqnyat_provider.core.endpoints.status import StatusPoll, SystemStatus
from taqnyat_provider.core.endpoints.voice import VoiceCall
from taqnyat_provider.core.errors import InvalidInputError
from taqnyat_provider.core.ledger import Ledger
from taqnyat_provider.core.loose_json import MAX_BODY_BYTES
from taqnyat_provider.core.retry import RetryPolicy
from taqnyat_provider.core.sending import PreparedSend, SendResult
from taqnyat_provider.core.steps import (
    Answer,
    Call,
    Failure,
    Request,
    Step,
    Steps,
    TransportError,
    Wait,
    drive,
)
from taqnyat_provider.hooks.network_route import network_route, tls_context
from taqnyat_provider.hooks.sync_transport import flight, tracking_session
from taqnyat_provider.hooks.transport import (
    BASE_HEADERS,
    CHUNK_BYTES,
    DEADLINE_FACTOR,
    NotOffered,
    TaqnyatCalls,
    auth_headers,
    certificate_error,
    failure_detail,
    is_certificate_error,
    mask_proxy_password,
    read_settings,
)

if TYPE_CHECKING:
    from taqnyat_provider.hooks.taqnyat_async import TaqnyatAsyncHook as TaqnyatAsyncHook

T = TypeVar("T")


class NoAuth(requests.auth.AuthBase):
    """Keeps requests from replacing the Bearer header with credentials from a ``.netrc``."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


class TaqnyatHook(TaqnyatCalls, HttpHook):
    """
    Talk to the Taqnyat API with the Bearer token of a ``taqnyat`` connection.

    One ``requests`` session serves every call of the hook and reuses its connection (HTTP/1.1
    keep-alive: urllib3's pool keeps the socket open between requests), so a batched send opens one
    connection. Reads are retried with backoff; sends only when provably not processed
    (see :mod:`taqnyat_provider.core.retry`), and a batched send is kept in a send ledger
    (see :mod:`taqnyat_provider.core.delivery`). The connection's ``timeout`` bounds the connect (TLS
    handshake included) and each wait for a byte; the whole request, answer body included, ends
    within twice that (``DEADLINE_FACTOR``), as in the async hook: "timed out", so "delivery
    unknown" for a send whose request was written, retried for a read.

    :param taqnyat_conn_id: The ``taqnyat`` connection: password = Bearer token, host = optional
        base URL (default ``https://api.taqnyat.sa``), extras as the connection form shows them.
    :param retry_policy: How many attempts and how long to wait between them.
    """

    conn_name_attr = "taqnyat_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Taqnyat"

    # Airflow 2.11 reads both from the hook class itself, not from a base class.
    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        from taqnyat_provider.get_provider_info import ui_field_behaviour

        return ui_field_behaviour()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        from taqnyat_provider.get_provider_info import connection_form_widgets

        return connection_form_widgets()

    def __init__(
        self, taqnyat_conn_id: str = DEFAULT_CONN_ID, retry_policy: RetryPolicy | None = None
    ) -> None:
        super().__init__(method="GET", http_conn_id=taqnyat_conn_id)
        # HttpHook's own request machinery (adapters that send a prepared request as they are, its
        # base URL and extras, read when its get_conn runs): none of it is used, none of it is left.
        for unused in ("adapter", "keep_alive_adapter", "base_url", "merged_extra"):
            vars(self).pop(unused, None)
        self.taqnyat_conn_id = taqnyat_conn_id
        self.retry_policy = retry_policy
        self._session: requests.Session | None = None

    @cached_property
    def settings(self) -> ConnectionSettings:
        conn = self.get_connection(self.taqnyat_conn_id)
        settings = read_settings(conn, conn.extra_dejson)
        for warning in settings.warnings:
            self.log.warning("%s", warning)
        return settings

    def check_connection_settings(self) -> None:
        """
        Read the connection and build the session a call would use, sending nothing: a bad base URL,
        proxy or CA bundle fails here (a dry run's check).
        """
        self._http_session()

    def _http_session(self) -> requests.Session:
        """The hook's one session; it takes nothing from the environment unless the connection says so."""
        if self._session is None:
            settings = self.settings
            # requests reads nothing from the environment: it would let HTTPS_PROXY and
            # REQUESTS_CA_BUNDLE replace the connection's own settings, and add a .netrc's
            # credentials. network_route reads what trust_env allows, the connection's first.
            route = network_route(settings)
            tls_context(route)  # a CA bundle that cannot be read fails here, before any request
            mask_proxy_password(route)
            session = tracking_session()
            session.trust_env = False
            session.auth = NoAuth()
            session.verify = route.verify
            if route.proxy:
                session.proxies.update({"http": route.proxy, "https": route.proxy})
            session.headers.update(BASE_HEADERS)
            self._session = session
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def _transfer(self, request: Request) -> Answer:
        settings = self.settings
        session = self._http_session()
        # Connect (TLS handshake included) and each wait for the answer are bounded apart, and the
        # whole request by the flight's deadline: a server dripping bytes cannot hold a worker. A
        # request that was never written is "not sent" (see sync_transport), however urllib3 names
        # the timeout.
        with flight(DEADLINE_FACTOR * settings.timeout) as current:
            try:
                with session.request(
                    request.method,
                    settings.url(request.endpoint),
                    params=request.params,
                    json=request.json,
                    headers=auth_headers(settings, request),
                    timeout=(settings.timeout, settings.timeout),
                    allow_redirects=False,
                    stream=True,
                ) as response:
                    body = b""
                    for chunk in response.iter_content(CHUNK_BYTES):
                        body += chunk
                        if len(body) > MAX_BODY_BYTES:  # one byte more than the parser takes
                            break
                    if not current.expired:  # else the body may end where the deadline cut it
                        return Answer(response.status_code, response.headers, body)
            except requests.RequestException as error:
                if is_certificate_error(error):
                    raise certificate_error(settings, error) from None
                if current.expired and current.written:
                    raise TransportError(Failure.TIMED_OUT, current.deadline_detail()) from None
                proxy = session.proxies.get("https")
                raise TransportError(current.failure(error), failure_detail(error, proxy)) from None
            raise TransportError(Failure.TIMED_OUT, current.deadline_detail())

    def _perform(self, step: Step) -> Any:
        if isinstance(step, Wait):
            return time.sleep(step.seconds)
        if isinstance(step, Call):
            return step.function()
        return self._transfer(step)

    def _drive(self, steps: Steps[T]) -> T:
        return drive(steps, self._perform)

    # The API's calls: every one goes through the retry rules, and every send through the delivery
    # engine and its send ledger. The async hook has the same methods, awaited.

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        authenticated: bool = True,
    ) -> Answer:
        """
        One API call under the retry rules: the server's answer (status, headers, body), never 429/5xx.

        A request to a send endpoint (``POST /voiceSend.php/``, ``POST /v1/messages``) is refused
        before anything is sent: sends go through :meth:`place_voice_calls`, :meth:`send_sms` or
        :meth:`deliver`, which keep the send ledger.
        """
        return self._drive(self._request_steps(method, endpoint, json, params, authenticated))

    def get_system_status(self) -> SystemStatus:
        """Read ``GET /system/status/``; it needs no authorization, so no token is sent."""
        return self._drive(status.system_status(self.policy, self.log))

    def poll_system_status(self) -> StatusPoll:
        """One poll of the status, as the status sensor makes it (one attempt; see ``status.poll``)."""
        return self._drive(status.poll(self.log))

    def get_balance(self) -> Balance:
        """Read the account balance (``GET /account/balance``): authenticated, read-only and free."""
        return self._drive(account.balance(self.policy, self.log))

    def get_senders(self) -> list[Sender]:
        """The account's sender names (``GET /v1/messages/senders``); a trial account may have none."""
        return self._drive(account.senders(self.policy, self.log))

    def delete_scheduled_sms(self, delete_id: int | str) -> Acknowledgement:
        """Cancel a scheduled SMS by the ``deleteId`` it was sent with (``DELETE /v1/messages/delete``)."""
        return self._drive(sms_delete.delete_scheduled_sms(delete_id, self.policy, self.log))

    def place_voice_calls(
        self, audio_url: str, recipients: Any, caller_id: str | None = None, **options: Any
    ) -> DeliveryReport:
        """
        Call every recipient once, ``batch_size`` numbers a request; all checks run before the first.

        ``caller_id`` falls back to the connection's ``caller_id`` extra. ``options``: ``batch_size``,
        ``default_region``, ``ledger`` and ``on_unknown`` (see :meth:`deliver`).
        """
        region = options.pop("default_region", None)
        return self.deliver(
            VoiceCall(audio_url, recipients, caller_id, region).prepare(self.settings), **options
        )

    def send_sms(
        self,
        body: str,
        recipients: Any,
        sender: str | None = None,
        scheduled_at: Any = None,
        delete_id: int | str | None = None,
        **options: Any,
    ) -> DeliveryReport:
        """
        Send an SMS to every recipient once (``POST /v1/messages``), ``batch_size`` numbers a request.

        ``sender`` defaults to the connection's ``sender`` extra; ``scheduled_at`` (a timezone-aware
        datetime or ISO 8601 text, in the future) sends later, cancellable with ``delete_id`` (made
        up for a scheduled send without one). ``options``: ``batch_size``, ``default_region``,
        ``ledger`` and ``on_unknown`` (see :meth:`deliver`).
        """
        region = options.pop("default_region", None)
        message = SmsMessage(body, recipients, sender, scheduled_at, delete_id, region)
        return self.deliver(message.prepare(self.settings), **options)

    def send_voice(self, audio_url: str, caller_id: str | None, recipients: Any) -> SendResult:
        """Place voice calls in one request (``POST /voiceSend.php/``, at most 1000 recipients)."""
        prepared = VoiceCall(audio_url, recipients, caller_id).prepare(self.settings)
        [result] = self.deliver(prepared, max(len(prepared.recipients), 1)).results
        return result

    def deliver(
        self,
        prepared: PreparedSend,
        batch_size: int = DEFAULT_BATCH_SIZE,
        *,
        ledger: Ledger | None = None,
        on_unknown: str = "fail",
    ) -> DeliveryReport:
        """
        Send a prepared send in batches over one kept-alive session; never twice to anyone.

        :param ledger: Where the send's record is kept (an operator passes its task's; default: memory).
        :param on_unknown: ``"fail"``, ``"skip"`` or ``"resend"`` (see the delivery guarantees).
        """
        return self._drive(self._delivery_steps(prepared, batch_size, ledger, on_unknown))

    # What HttpHook lends: run() and url_from_endpoint() obey the rules above; the doors that would
    # send around them (a prepared requests.Request, tenacity's retries, HttpHook's own status check)
    # are closed, so that hasattr() says so and a call names what to use instead.

    def run(
        self,
        endpoint: str | None = None,
        data: dict[str, Any] | str | None = None,
        headers: dict[str, Any] | None = None,
        extra_options: dict[str, Any] | None = None,
        **request_kwargs: Any,
    ) -> Answer:
        """
        :meth:`request` with ``HttpHook.run``'s arguments and the hook's ``method``: ``data`` is the
        query of a GET and the JSON body otherwise. Headers, timeouts, proxies and TLS come from the
        connection: ``headers``, ``extra_options`` and request keywords are refused, by name.
        """
        given = {"headers": headers, "extra_options": extra_options, **request_kwargs}
        refused = sorted(name for name, value in given.items() if value)
        if refused:
            raise InvalidInputError(
                f"TaqnyatHook.run takes no {', '.join(refused)}: headers, timeouts, proxies and TLS "
                "come from the taqnyat connection"
            )
        if data is not None and not isinstance(data, dict):
            raise InvalidInputError(f"TaqnyatHook.run takes data as a dict, got {type(data).__name__}")
        get = self.method == "GET"
        return self.request(
            self.method, endpoint or "", params=data if get else None, json=None if get else data
        )

    def url_from_endpoint(self, endpoint: str | None) -> str:
        """The URL a request to ``endpoint`` goes to, from the connection's base URL."""
        return self.settings.url(endpoint or "")

    get_conn = NotOffered("the session sends only through the hook's calls and sends")
    run_and_check = NotOffered("use request() or run()")
    run_with_advanced_retry = NotOffered("the hook retries by its own rules: use request() or run()")
    check_response = NotOffered(
        "use request() or run(), which return the answer, or a typed call, which raises TaqnyatApiError"
    )

    def test_connection(self) -> tuple[bool, str]:
        """Check the token with the free, read-only balance call; never sends anything."""
        try:
            balance = self.get_balance()
        except Exception as error:
            return False, f"Taqnyat connection test failed: {error}"
        finally:
            self.close()
        return True, f"Connected to Taqnyat. Balance: {balance.balance} {balance.currency or 'SAR'}"


def __getattr__(name: str) -> Any:
    # ``from taqnyat_provider.hooks.taqnyat import TaqnyatAsyncHook`` keeps working, without
    # importing aiohttp for every DAG file that only uses the sync hook.
    if name == "TaqnyatAsyncHook":
        from taqnyat_provider.hooks.taqnyat_async import TaqnyatAsyncHook

        return TaqnyatAsyncHook
    raise AttributeError(name)
