"""The C argument loop of the companion programs (nonBragg, noisify), as a rule table.

Like :mod:`nanobragg.commandline.args` for nanoBragg: every token that starts with
``-`` is tested against every rule in table order; a rule fires when one of its
patterns occurs in the token (C ``strstr``; a pattern starting with ``=`` must equal
the whole token, the C's ``strcmp``/``strlen`` tests) and enough arguments follow.
All rules that fire are applied, and values are examined as options too (a value such
as ``-5`` matches no rule and is skipped).

Differences from the C programs, on purpose (the same as for nanoBragg): an option
that matches no rule and is not a number or a value is an error; the option the user
meant (longest matching pattern) must have its values, and they must be numbers
(finite floats, whole integers) where the C would read ``atof("abc") = 0``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nanobragg.commandline.args import c_atoi, is_finite_number, is_integer, is_number
from nanobragg.errors import InputError
from nanobragg.io._cnum import atof

Action = Callable[[Any, list[Any]], None]


@dataclass(frozen=True)
class CRule:
    """One ``if`` of a C argument loop: patterns, value kinds (f, i, s) and an action."""

    patterns: tuple[str, ...]
    kinds: str
    action: Action
    needs: int | None = None  # arguments that must follow (default: len(kinds))

    def match_length(self, token: str) -> int:
        """Length of the longest pattern matching ``token`` (0: none)."""
        best = 0
        for pattern in self.patterns:
            hit = token == pattern[1:] if pattern.startswith("=") else pattern in token
            if hit:
                best = max(best, len(pattern.lstrip("=")))
        return best


def rule(patterns: str, kinds: str, action: Action, needs: int | None = None) -> CRule:
    """A rule from space-separated patterns."""
    return CRule(tuple(patterns.split()), kinds, action, needs)


def store(name: str, unit: Callable[[float], float] | None = None, **extra: Any) -> Action:
    """Action storing the first value (through ``unit``) in ``name`` and setting ``extra``."""
    def action(state: Any, values: list[Any]) -> None:
        value = values[0] if unit is None else unit(values[0])
        setattr(state, name, value)
        for key, constant in extra.items():
            setattr(state, key, constant)
    return action


def store_all(*names: str, unit: Callable[[float], float] | None = None) -> Action:
    """Action storing the first value in every one of ``names``."""
    def action(state: Any, values: list[Any]) -> None:
        for name in names:
            setattr(state, name, values[0] if unit is None else unit(values[0]))
    return action


def constants(**assignments: Any) -> Action:
    """Action setting fixed values (a flag without values)."""
    def action(state: Any, _values: list[Any]) -> None:
        for key, value in assignments.items():
            setattr(state, key, value)
    return action


def _convert(flag: str, kind: str, token: str, strict: bool) -> Any:
    if kind == "s":
        return token
    if kind == "f":
        if strict and not is_finite_number(token):
            raise InputError(f"{flag}: '{token}' is not a finite number")
        return atof(token)
    if strict and not is_integer(token):
        raise InputError(f"{flag}: '{token}' is not a whole number")
    return c_atoi(token)


def parse(argv: list[str], rules: tuple[CRule, ...], state: Any, warnings: list[str],
          claim: Callable[[Any, str], bool] | None = None) -> Any:
    """Run the C argument loop of ``rules`` over ``argv`` into ``state`` (returned).

    Arguments that no option reads are ignored with a line in ``warnings``. ``claim``,
    when given, sees every argument first; if it returns True the argument is taken
    (the C's ``continue``) and no rule sees it.

    Raises:
        InputError: unknown option, missing value or a value that is not a number.
    """
    consumed: set[int] = set()
    for i, token in enumerate(argv):
        if claim is not None and claim(state, token):
            continue
        if token.startswith("-"):
            consumed |= _apply(argv, i, rules, state, strict=i not in consumed)
        elif i not in consumed:
            warnings.append(f"WARNING: ignoring argument '{token}' (no option takes it)")
    return state


def _apply(argv: list[str], i: int, rules: tuple[CRule, ...], state: Any,
           strict: bool) -> set[int]:
    token = argv[i]
    matching = [(r, r.match_length(token)) for r in rules]
    matching = [(r, n) for r, n in matching if n]
    if not matching:
        if strict and not is_number(token):
            raise InputError(f"unknown option '{token}'")
        return set()
    longest = max(n for _, n in matching)
    used, fired = 0, False
    for r, n in matching:
        if len(argv) - i - 1 < (len(r.kinds) if r.needs is None else r.needs):
            continue
        tokens = argv[i + 1: i + 1 + len(r.kinds)]
        checked = strict and n == longest
        r.action(state, [_convert(token, k, t, checked) for k, t in zip(r.kinds, tokens)])
        used = max(used, len(tokens))
        fired |= n == longest
    if strict and not fired:
        need = max(len(r.kinds) if r.needs is None else r.needs
                   for r, n in matching if n == longest)
        raise InputError(f"{token}: needs {need} value{'s' if need > 1 else ''} after it")
    return set(range(i + 1, i + 1 + used))
