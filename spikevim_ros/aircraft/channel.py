"""One validated input stream: stamp checks, rejection bookkeeping and a health summary."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

PROBLEM_HOLD_S = 5.0   # a rejection keeps the input's health at "warning" this long


@dataclass(frozen=True)
class Sample:
    """An accepted value and the time it describes (message stamp, else arrival)."""

    value: Any
    stamp: float


@dataclass(frozen=True)
class Health:
    """What diagnostics show for one input."""

    ok: bool
    message: str
    values: dict


class InputChannel:
    """Accept or reject the samples of one input and say whether the newest is fresh."""

    def __init__(self, name: str, timeout_s: float) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self.sample: Sample | None = None
        self.previous: Sample | None = None      # the last received sample, accepted or not
        self.accepted = self.rejected = 0
        self.problem = ''
        self.problem_time = -math.inf

    def stamp_problem(self, stamp: float, now: float) -> str | None:
        """Return why a message stamped ``stamp`` arriving at ``now`` is unusable, or None."""
        age = now - stamp
        if age > self.timeout_s:
            return f'stale stamp: {age:.2f} s old (timeout {self.timeout_s:g} s)'
        if -age > self.timeout_s:
            return f'stamp {-age:.2f} s in the future'
        return None

    def offer(self, value: Any, stamp: float, now: float, problem: str | None = None) -> bool:
        """Take one message: keep it when ``problem`` and its stamp are fine; return that."""
        stamp = stamp if stamp > 0.0 else now   # an unstamped message describes its arrival
        problem = problem or self.stamp_problem(stamp, now)
        self.previous = Sample(value, stamp)
        if problem is not None:
            self.reject(problem, now)
            return False
        self.sample = Sample(value, stamp)
        self.accepted += 1
        return True

    def reject(self, problem: str, now: float) -> None:
        """Count a rejected message and remember why."""
        self.rejected += 1
        self.problem, self.problem_time = problem, now

    def fresh(self, now: float) -> Sample | None:
        """Return the newest accepted sample when it is younger than the timeout."""
        sample = self.sample
        if sample is None or now - sample.stamp > self.timeout_s:
            return None
        return sample

    def health(self, now: float) -> Health:
        """Return OK (fresh or never received: the input is optional) or a warning with why."""
        age = now - self.sample.stamp if self.sample is not None else math.nan
        values = {'accepted': self.accepted, 'rejected': self.rejected, 'age_s': age,
                  'last_problem': self.problem}
        if self.problem and now - self.problem_time <= PROBLEM_HOLD_S:
            return Health(False, f'{self.name} rejected: {self.problem}', values)
        if self.sample is None:
            return Health(True, f'{self.name}: none received (optional)', values)
        if age > self.timeout_s:
            return Health(False, f'{self.name} stale: last valid {age:.1f} s ago', values)
        return Health(True, f'{self.name}: ok', values)
