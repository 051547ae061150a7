"""The one error a bad config value gives: the key, what is wrong, and the fix."""

from __future__ import annotations


class ConfigError(ValueError):
    """A bad config value: `key` names it, the message says what to do."""

    def __init__(self, key: str, problem: str, fix: str):
        self.key, self.problem, self.fix = key, problem, fix
        super().__init__(f"{key}: {problem} — {fix}")


def check(ok: bool, key: str, problem: str, fix: str) -> None:
    if not ok:
        raise ConfigError(key, problem, fix)
