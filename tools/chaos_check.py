"""
The chaos run's checker: who received what, against what each task says it did.

A pure module (no Airflow, no HTTP): it reads what the chaos driver collected — the plan of sends,
the sandbox's request log, and each mapped send task's outcome (state, try number, XComs
``return_value`` and ``partial_delivery``, the error its last try ended with) — and works out, for
every number of every send:

* how many requests **of that send** reached it: the sandbox's ``processed`` requests, those it acted
  on (a 429 or a 503 it answered instead is not; a dropped or hung answer after the work is);
* what the task says about it (its *claim*): ``delivered`` (in ``accepted``/``rejected``), ``maybe``
  (maybe reached: an unknown outcome) or ``not_sent``, or nothing.

It counts:

* **duplicates**: numbers reached by more than one request of the same send;
* **unaccounted**: numbers that were neither reached exactly once nor named as maybe reached / not
  sent by their task — and numbers whose task's claim is false (said delivered, never received; said
  not sent, received): a claim that lies is as silent a loss as no claim;
* **bad endings**: tasks that did not end ``success``, or ended ``failed`` without an error naming its
  unresolved numbers (the delivery engine's errors name them: see :func:`named_by_error`).

How a failed task names numbers (the provider's messages, docs/delivery.rst):

* ``UnresolvedDeliveryError``: "batch(es) K of N were in flight ... Maybe reached (m)": the batches K
  are maybe reached; the engine sends in order and stops at an unknown batch, so the batches after
  the last of K are not sent (the error says nothing more is sent without a person deciding).
* ``IncompleteDeliveryError`` / ``DeliveryInterruptedError`` / ``FirstBatchUnknownError``: "Batch k
  of N failed / was not processed / may have been processed ... Reached (a) ... Maybe reached (m) ...
  Not reached (z)": batch k is maybe reached when ``partial_delivery`` lists it as maybe reached or
  the count of maybe-reached numbers covers it (its cause was an unknown outcome), else not sent; the
  batches after k are not sent; ``partial_delivery`` lists the earlier batches' ``accepted`` and
  ``maybe_reached``. The counts in the message must match.
* Anything else (a bare "Delivery unknown", a task killed on its last try, stuck in queued) names
  nobody: its unresolved numbers are unaccounted and the ending is bad.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SEND_ENDPOINTS = ("voice", "sms")

_UNRESOLVED = re.compile(r"batch\(es\) ([\d, ]+) of (\d+) were in flight")
_STOPPED = re.compile(r"[Bb]atch (\d+) of (\d+) (failed|was not processed|may have been processed)")
_COUNTS = re.compile(r"Reached \((\d+)\).*?Maybe reached \((\d+)\).*?Not reached \((\d+)\)", re.S)
_MAYBE_COUNT = re.compile(r"Maybe reached \((\d+)\)")


@dataclass(frozen=True)
class Send:
    """One mapped send task as the DAG was written: its numbers, batching and its request marker."""

    task_id: str
    map_index: int
    channel: str  # "voice" or "sms"
    marker: str  # the audio URL (voice) or the text (SMS): unique to this send
    recipients: tuple[str, ...]
    batch_size: int
    on_unknown: str = "fail"

    @property
    def label(self) -> str:
        return f"{self.task_id}[{self.map_index}]"

    @property
    def batches(self) -> list[list[str]]:
        r = list(self.recipients)
        return [r[i : i + self.batch_size] for i in range(0, len(r), self.batch_size)]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Send:
        return cls(
            task_id=data["task_id"],
            map_index=int(data["map_index"]),
            channel=data["channel"],
            marker=data["marker"],
            recipients=tuple(data["recipients"]),
            batch_size=int(data["batch_size"]),
            on_unknown=data.get("on_unknown", "fail"),
        )


@dataclass
class Outcome:
    """How a send task ended: what the metadata database, its XComs and its last log say."""

    state: str | None
    try_number: int = 0
    return_value: dict[str, Any] | None = None
    partial_delivery: dict[str, Any] | None = None
    error: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Outcome:
        return cls(
            state=data.get("state"),
            try_number=int(data.get("try_number") or 0),
            return_value=data.get("return_value"),
            partial_delivery=data.get("partial_delivery"),
            error=data.get("error"),
        )


@dataclass
class Report:
    sends: int = 0
    batches: int = 0
    faults: int = 0
    rate_limited: int = 0
    duplicates: list[tuple[str, str, int]] = field(default_factory=list)  # (send, number, requests)
    unaccounted: list[tuple[str, str, str]] = field(default_factory=list)  # (send, number, why)
    bad_endings: list[tuple[str, str]] = field(default_factory=list)  # (send, why)
    endings: collections.Counter[str] = field(default_factory=collections.Counter)

    @property
    def passed(self) -> bool:
        return not (self.duplicates or self.unaccounted or self.bad_endings)


def number_list(value: Any) -> list[str]:
    """Recipients as a request carried them: a list, or the SMS API's ``"[9665...,9665...,]"``."""
    if isinstance(value, str):
        return [part.strip() for part in value.strip("[]").split(",") if part.strip()]
    if isinstance(value, list):
        return [str(item).strip() for item in value]
    return []


def _marker(endpoint: str, body: Mapping[str, Any]) -> str:
    return str(body.get("audioUrl") if endpoint == "voice" else body.get("body"))


def received_counts(
    sends: Sequence[Send], requests: Iterable[Mapping[str, Any]]
) -> tuple[dict[str, collections.Counter[str]], int, list[tuple[str, str, str]]]:
    """
    Per send, how many processed requests of that send carried each number.

    A request belongs to the send whose marker it carries (audio URL, text) on that send's channel;
    a number in it that is not that send's is a stray (a request mixing sends: never expected).
    Returns (counts by send label, processed send requests, strays).
    """
    by_marker = {(s.channel, s.marker): s for s in sends}
    counts: dict[str, collections.Counter[str]] = {s.label: collections.Counter() for s in sends}
    strays: list[tuple[str, str, str]] = []
    batches = 0
    for record in requests:
        if record.get("endpoint") not in SEND_ENDPOINTS or not record.get("processed"):
            continue
        raw = record.get("body")
        body: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
        batches += 1
        send = by_marker.get((record["endpoint"], _marker(record["endpoint"], body)))
        for number in number_list(body.get("recipients")):
            if send is None or number not in send.recipients:
                where = send.label if send else f"{record['endpoint']} {_marker(record['endpoint'], body)!r}"
                strays.append((where, number, "received in a request of no send that has this number"))
            else:
                counts[send.label][number] += 1
    return counts, batches, strays


def named_by_error(send: Send, outcome: Outcome) -> tuple[dict[str, str], str | None]:
    """
    What a failed task's last error names: ``{number: "maybe" | "not_sent"}``, and why it is not
    good enough when it is not (None when it is).
    """
    error = outcome.error or ""
    batches = send.batches
    claims: dict[str, str] = {}
    unresolved = _UNRESOLVED.search(error)
    if unresolved:
        named = sorted({int(b) for b in unresolved.group(1).replace(" ", "").split(",") if b})
        total = int(unresolved.group(2))
        if total != len(batches) or not named or named[-1] > total:
            return {}, f"names batches {named} of {total}; the send has {len(batches)}"
        for number in named:
            claims.update(dict.fromkeys(batches[number - 1], "maybe"))
        for batch in batches[named[-1] :]:
            claims.update(dict.fromkeys(batch, "not_sent"))
        maybe_count = _MAYBE_COUNT.search(error)
        expected = sum(len(batches[n - 1]) for n in named)
        if not maybe_count or int(maybe_count.group(1)) != expected:
            return (
                claims,
                f"says maybe reached {maybe_count and maybe_count.group(1)}, batches {named} hold {expected}",
            )
        return claims, None
    stopped = _STOPPED.search(error)
    if stopped:
        failed, total = int(stopped.group(1)), int(stopped.group(2))
        counts = _COUNTS.search(error)
        if total != len(batches) or not 1 <= failed <= total or not counts:
            return (
                {},
                f"stopped at batch {failed} of {total}; the send has {len(batches)} (counts: {bool(counts)})",
            )
        reached, maybe, not_reached = (int(g) for g in counts.groups())
        earlier = outcome.partial_delivery or {}
        for number in earlier.get("maybe_reached") or []:
            claims[number] = "maybe"
        for number in (earlier.get("accepted") or []) + (earlier.get("rejected") or []):
            claims[number] = "delivered"
        # The batch it stopped at is maybe reached when partial_delivery lists it so (the engine
        # does since 0.3.0), or when the message counts more maybe-reached numbers than it lists.
        listed = set(earlier.get("maybe_reached") or [])
        in_doubt = set(batches[failed - 1]) <= listed or maybe > len(listed)
        current = "maybe" if in_doubt else "not_sent"
        claims.update(dict.fromkeys(batches[failed - 1], current))
        for batch in batches[failed:]:
            claims.update(dict.fromkeys(batch, "not_sent"))
        said = collections.Counter(claims.values())
        if (said["maybe"], said["not_sent"]) != (maybe, not_reached) or (
            earlier and said["delivered"] != reached
        ):
            return claims, (
                f"says reached {reached}, maybe {maybe}, not reached {not_reached}; its partial_delivery and "
                f"batches give {said['delivered']}, {said['maybe']}, {said['not_sent']}"
            )
        return claims, None
    first_line = error.strip().splitlines()[0][:160] if error.strip() else "no error in its log"
    return {}, f"its error names none of its numbers ({first_line})"


def check(
    sends: Sequence[Send], requests: Iterable[Mapping[str, Any]], outcomes: Mapping[str, Outcome]
) -> Report:
    """Count duplicates, unaccounted numbers and bad endings (see the module's docstring)."""
    requests = list(requests)
    counts, batches, strays = received_counts(sends, requests)
    report = Report(sends=len(sends), batches=batches)
    report.faults = sum(
        1
        for r in requests
        if r.get("fault") not in (None, "rate_limit") and r.get("endpoint") in SEND_ENDPOINTS
    )
    report.rate_limited = sum(1 for r in requests if r.get("fault") == "rate_limit")
    report.unaccounted.extend(strays)
    for send in sends:
        outcome = outcomes.get(send.label) or Outcome(state=None)
        received = counts[send.label]
        report.endings[outcome.state or "missing"] += 1
        claims: dict[str, str] = {}
        if outcome.state == "success":
            result = outcome.return_value or {}
            if not outcome.return_value:
                report.bad_endings.append((send.label, "succeeded without a return_value XCom"))
            for number in (result.get("accepted") or []) + (result.get("rejected") or []):
                claims[number] = "delivered"
            for number in result.get("maybe_reached") or []:
                claims[number] = "maybe"
        elif outcome.state == "failed":
            claims, problem = named_by_error(send, outcome)
            unresolved = [n for n in send.recipients if received[n] != 1]
            if problem and unresolved:
                report.bad_endings.append((send.label, f"failed on try {outcome.try_number}: {problem}"))
        else:
            report.bad_endings.append((send.label, f"ended {outcome.state or 'without a task instance'}"))
        for number in send.recipients:
            times, claim = received[number], claims.get(number)
            if times > 1:
                report.duplicates.append((send.label, number, times))
            if claim == "delivered" and times == 0:
                report.unaccounted.append((send.label, number, "said delivered, never received"))
            elif claim == "not_sent" and times > 0:
                report.unaccounted.append((send.label, number, f"said not sent, received {times} time(s)"))
            elif times == 0 and claim not in ("maybe", "not_sent"):
                # (A number reached twice is a duplicate, counted once, above.)
                report.unaccounted.append((send.label, number, "received 0 time(s), named by nobody"))
    return report


def summary_line(report: Report, *, seed: int, kills: int, restarts: int, seconds: float) -> str:
    """The one line the run prints (its form is fixed: scripts and the docs read it)."""
    return (
        f"chaos: seed {seed}, sends {report.sends}, batches {report.batches}, kills {kills}, "
        f"restarts {restarts}, faults {report.faults}, duplicates {len(report.duplicates)}, "
        f"unaccounted {len(report.unaccounted)}, time {seconds:.0f} s"
    )
