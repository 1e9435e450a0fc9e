"""Method arguments of the northbound OPC UA server: declared, checked, and refused with a reason.

A foreign client learns how to call a method from the address space alone: each input and
output is declared with a name, a data type and a description that gives an example
(``e.g. "remote-manual"``, ``e.g. 3600``). Before a method runs, every input is checked
(count, type, finite, range); a bad call never reaches the gate and never becomes
asyncua's ``BadUnexpectedError`` with a traceback in the log. It is answered with

* a Bad method status: ``BadArgumentsMissing``, ``BadTooManyArguments`` or
  ``BadInvalidArgument`` (then ``InputArgumentResults`` says which input:
  ``BadTypeMismatch`` or ``BadOutOfRange``);
* the reason as text, where OPC UA puts it: ``DiagnosticInfo.AdditionalInfo`` of each
  refused input (``InputArgumentDiagnosticInfos``) and of the call as a whole (the Call
  response's ``DiagnosticInfos``, one per method called: asyncua's server leaves those
  empty, so ``northbound._Processor`` fills them from ``REASONS``);
* for a command method, also its usual outputs ``(accepted=False, reason)``.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from asyncua import ua

# id(CallMethodResult) -> the reason it was refused, for the Call request being served
# (set by the connection's processor, filled by the methods, read in its send_response)
REASONS: contextvars.ContextVar[dict[int, str] | None] = \
    contextvars.ContextVar("opcua_call_reasons", default=None)

_INT_RANGE = {ua.VariantType.SByte: (-2 ** 7, 2 ** 7 - 1), ua.VariantType.Byte: (0, 2 ** 8 - 1),
              ua.VariantType.Int16: (-2 ** 15, 2 ** 15 - 1),
              ua.VariantType.UInt16: (0, 2 ** 16 - 1),
              ua.VariantType.Int32: (-2 ** 31, 2 ** 31 - 1),
              ua.VariantType.UInt32: (0, 2 ** 32 - 1),
              ua.VariantType.Int64: (-2 ** 63, 2 ** 63 - 1),
              ua.VariantType.UInt64: (0, 2 ** 64 - 1)}
INTS = set(_INT_RANGE)
NUMBERS = INTS | {ua.VariantType.Float, ua.VariantType.Double}


@dataclass(frozen=True)
class Arg:
    """One declared argument of a method: what a foreign client reads to call it, and
    what the server checks before the call runs (``check``: a reason, or None)."""

    name: str
    vtype: ua.VariantType
    description: str
    array: bool = False
    check: Callable[[Any], str | None] | None = None

    def argument(self) -> ua.Argument:
        return ua.Argument(Name=self.name, DataType=ua.NodeId(self.vtype.value, 0),
                           ValueRank=1 if self.array else -1,
                           ArrayDimensions=[0] if self.array else [],
                           Description=ua.LocalizedText(self.description, "en"))


def value_of(arg: Arg, v: Any) -> tuple[Any, str | None, int]:
    """The Python value of one input, or the reason and status it is refused with. An
    integer argument takes any integer type in its range (a client that sends Int64 for an
    Int32 is not refused for it); a Double any finite number."""
    if not isinstance(v, ua.Variant):
        v = ua.Variant(v)
    if v.is_array or isinstance(v.Value, list | tuple):
        return None, f"{arg.name} must be one value, not an array", \
            ua.StatusCodes.BadTypeMismatch
    value, vt = v.Value, v.VariantType
    if arg.vtype == ua.VariantType.String:
        ok = vt == ua.VariantType.String and isinstance(value, str)
        want = "a string"
    elif arg.vtype == ua.VariantType.Double:
        ok = vt in NUMBERS and isinstance(value, int | float) and not isinstance(value, bool)
        want = "a number"
        if ok:
            value = float(value)
            if not math.isfinite(value):
                return None, f"{arg.name} must be a finite number, not {value}", \
                    ua.StatusCodes.BadOutOfRange
    elif arg.vtype in INTS:
        ok = vt in INTS and isinstance(value, int) and not isinstance(value, bool)
        want = f"an integer ({arg.vtype.name})"
        lo, hi = _INT_RANGE[arg.vtype]
        if ok and not lo <= value <= hi:
            return None, f"{arg.name} must be an integer from {lo} to {hi}, not {value}", \
                ua.StatusCodes.BadOutOfRange
    else:
        ok, want = vt == arg.vtype, arg.vtype.name
    if not ok:
        return None, f"{arg.name} must be {want}, not {vt.name} {value!r}"[:200], \
            ua.StatusCodes.BadTypeMismatch
    why = arg.check(value) if arg.check is not None else None
    if why is not None:
        return None, f"{arg.name} {why}", ua.StatusCodes.BadOutOfRange
    return value, None, ua.StatusCodes.Good


def check_inputs(name: str, inputs: list[Arg], values: tuple[Any, ...]
                 ) -> tuple[list[Any], str | None, int, list[ua.StatusCode], list[str | None]]:
    """The checked values of a call, or why not: (values, reason, method status, a status
    per input given, a reason per input given)."""
    if len(values) != len(inputs):
        names = ", ".join(a.name for a in inputs) or "no arguments"
        why = f"{name} takes {len(inputs)} argument(s) ({names}), got {len(values)}"
        if len(values) < len(inputs):
            return [], why, ua.StatusCodes.BadArgumentsMissing, [], []
        codes = [ua.StatusCode(ua.StatusCodes.Good if i < len(inputs)
                               else ua.StatusCodes.BadTooManyArguments)
                 for i in range(len(values))]
        whys = [None if i < len(inputs) else f"argument {i + 1} is one too many: {why}"
                for i in range(len(values))]
        return [], why, ua.StatusCodes.BadTooManyArguments, codes, whys
    args, codes, whys = [], [], []
    for arg, v in zip(inputs, values, strict=True):
        value, why, code = value_of(arg, v)
        args.append(value)
        codes.append(ua.StatusCode(code))
        whys.append(why)
    bad = [w for w in whys if w is not None]
    if bad:
        return args, f"{name}: " + "; ".join(bad), ua.StatusCodes.BadInvalidArgument, codes, whys
    return args, None, ua.StatusCodes.Good, codes, whys


def refusal(code: int, why: str, codes: list[ua.StatusCode] | None = None,
            whys: list[str | None] | None = None,
            outputs: list[ua.Variant] | None = None) -> ua.CallMethodResult:
    """A refused call: its Bad status, a status and reason per input, the reason for the
    call's DiagnosticInfo (see ``REASONS``), and ``outputs`` if any (a command's
    ``(False, reason)``)."""
    res = ua.CallMethodResult(StatusCode=ua.StatusCode(code))
    res.InputArgumentResults = list(codes or [])
    if whys:
        res.InputArgumentDiagnosticInfos = [ua.DiagnosticInfo(AdditionalInfo=w) if w else
                                            ua.DiagnosticInfo() for w in whys]
    res.OutputArguments = list(outputs or [])
    reasons = REASONS.get()
    if reasons is not None:
        reasons[id(res)] = why
    return res


def diagnostics(results: list[Any]) -> list[ua.DiagnosticInfo]:
    """The Call response's DiagnosticInfos for ``results``: the reason of each refused
    one (empty list: nothing was refused, as asyncua answers)."""
    reasons = REASONS.get() or {}
    if not any(id(r) in reasons for r in results):
        return []
    return [ua.DiagnosticInfo(AdditionalInfo=reasons[id(r)]) if id(r) in reasons
            else ua.DiagnosticInfo() for r in results]


def positive(value: float) -> str | None:
    return None if value > 0 else f"must be more than 0, not {value:g}"


def within(lo: int, hi: int) -> Callable[[int], str | None]:
    def check(value: int) -> str | None:
        return None if lo <= value <= hi else f"must be from {lo} to {hi}, not {value}"
    return check


def one_of(*choices: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value in choices else \
            f"must be one of {', '.join(repr(c) for c in choices)}, not {value!r}"[:200]
    return check


def shelve_time(max_s: float) -> Callable[[float], str | None]:
    def check(value: float) -> str | None:
        if value <= 0:
            return f"must be more than 0 s, not {value:g}"
        if value > max_s:
            return f"must be at most {max_s:.0f} s ({max_s / 3600:g} h), not {value:g}"
        return None
    return check
