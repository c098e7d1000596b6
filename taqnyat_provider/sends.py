"""Deprecated: :mod:`taqnyat_provider.messages` holds what a voice call or an SMS asks for."""

from __future__ import annotations

import warnings

from taqnyat_provider.messages import SMS_ENDPOINT, VOICE_ENDPOINT, PreparedSend, SmsMessage, VoiceCall

__all__ = ["SMS_ENDPOINT", "VOICE_ENDPOINT", "PreparedSend", "SmsMessage", "VoiceCall"]

warnings.warn(
    "taqnyat_provider.sends is deprecated: import from taqnyat_provider.messages",
    DeprecationWarning,
    stacklevel=2,
)
