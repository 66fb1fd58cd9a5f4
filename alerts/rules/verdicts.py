"""The last verdict a rule reported per key, so that it reports only changes.

The `Rule` protocol asks for conditions whose verdict changed: newly active, cleared,
or active at another severity. Every rule family keeps one `VerdictBook` and passes
each fresh judgement through it; the book is also where a rule reads "is this key
active, and how badly" for its hysteresis, so there is one truth about it.
Only active keys are stored: memory grows with open alerts, not with history.
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace

from alerts.clock import iso_utc
from alerts.model import Condition, Severity


@dataclass(frozen=True, slots=True)
class ActiveVerdict:
    severity: Severity
    since_ns: int


class VerdictBook:
    """Active keys with their severity and since when; filters judgements down to changes."""

    __slots__ = ("_active",)

    def __init__(self) -> None:
        self._active: dict[str, ActiveVerdict] = {}

    def report(self, condition: Condition) -> Condition | None:
        """`condition` if it changes the key's verdict, else None.

        A clear carries the severity of the alert it clears, whatever the caller put in.
        Both carry `active_since` (ISO 8601) in their explanation: since when the key
        has been (or had been) active; an escalation keeps the first time.
        """
        previous = self._active.get(condition.key)
        if condition.active:
            if previous is not None and previous.severity == condition.severity:
                return None
            since_ns = condition.at_ns if previous is None else previous.since_ns
            self._active[condition.key] = ActiveVerdict(condition.severity, since_ns)
            return _with_since(condition, since_ns)
        if previous is None:
            return None
        del self._active[condition.key]
        return replace(_with_since(condition, previous.since_ns), severity=previous.severity)

    def severity(self, key: str) -> Severity | None:
        """The key's active severity, or None when it is not active."""
        verdict = self._active.get(key)
        return None if verdict is None else verdict.severity

    def resume(self, open_conditions: Iterable[tuple[str, Severity, int]]) -> None:
        """Take over alerts still open from before a restart: (key, severity, since_ns).

        Without this a restarted rule would think every key fine and never clear them.
        """
        for key, severity, since_ns in open_conditions:
            self._active[key] = ActiveVerdict(Severity(severity), since_ns)


def _with_since(condition: Condition, since_ns: int) -> Condition:
    explanation = {**condition.explanation, "active_since": iso_utc(since_ns)}
    return replace(condition, explanation=explanation)
