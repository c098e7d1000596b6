"""
One module per Taqnyat endpoint: its path, its request, its result type and the parser of its answer.

``status`` (``GET /system/status/``), ``account`` (``GET /account/balance`` and
``GET /v1/messages/senders``), ``voice`` (``POST /voiceSend.php/``), ``sms`` (``POST /v1/messages``)
and ``sms_delete`` (``DELETE /v1/messages/delete``). They read answers with :mod:`~taqnyat_provider.core.wire`;
the two send endpoints prepare a :class:`~taqnyat_provider.core.sending.PreparedSend` that carries
its own parser, so the delivery engine knows nothing about any endpoint's answer.
"""
