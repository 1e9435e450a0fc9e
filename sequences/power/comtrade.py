"""Fault records as COMTRADE (IEEE C37.111-1999): an ASCII ``.cfg`` and ``.dat`` pair, the
format every relay engineer's tool opens.

**The waveform is reconstructed from the relay's phasors, not sampled.** A mine relay
keeps its own sampled record, but it is not transferred over Modbus: what the controller
reads is the relay's disturbance record (docs/power.md), the magnitude (RMS) and angle of
ia ib ic (A) and ua ub uc (kV, phase to earth) before (``pre_*``) and during (``flt_*``)
the fault, the inception time (``rec_s``/``rec_ms``) and the time from inception to the
breaker opening (``rec_clear_ms``). From those, ``reconstruct`` draws sinusoids at the
line frequency: ``PRE_CYCLES`` cycles of the pre-fault phasors before inception, the fault
phasors until the breaker opened, zero current after it, and after it the voltage the
caller knows of the post-fault state (written as missing data, 99999, when it knows
none). The RMS of any whole cycle equals the relay's phasor; the transient (DC offset,
arcing, CT saturation) is not there, and the file says so in neither a header nor a
channel: this docstring and the record's event text are where it is said. The digital
channels (picked up, blocked, trip, breaker open) follow the same relay's SOE records.

Layout (C37.111-1999 §5 and §6): line 1 station name, recording device id, revision
year; line 2 the channel counts (``TT,##A,##D``); one line per analog channel (index, id,
phase, circuit component, unit, a, b, skew, min, max, primary, secondary, P/S) and per
digital channel (index, id, phase, circuit component, normal state); line frequency; the
number of sampling rates and each (rate, last sample); the timestamps of the first sample
and of the trigger (``dd/mm/yyyy,hh:mm:ss.ssssss``, local time of the controller's zone,
as the relays' clocks are read); the data file type ``ASCII``; the time multiplier. Each
``.dat`` line is ``n,timestamp(us),A1..Ak,D1..Dm``; an analog value is an integer ``x``
that means ``a*x + b`` in the channel's unit, ``99999`` being missing data. Lines end in
CR LF; every field is printable ASCII without commas (ids are cleaned, never translated).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fixedsite.sequences.power import profile
from fixedsite.sequences.power.soe import DROP_OFF, PICKUP, TRIPS, SoeRecord

REV_YEAR = 1999
RATE_HZ = 1000.0            # 20 samples per 50 Hz cycle; timestamps in whole us
PRE_CYCLES = 5
POST_CYCLES = 5
MAX_FAULT_S = 10.0          # a junk clear time draws no endless file
FULL_SCALE = 32767          # integer samples span +-32767 (binary-compatible range)
MISSING = 99999             # C37.111-1999 ASCII: missing analog data
CURRENTS = ("ia", "ib", "ic")
VOLTAGES = ("ua", "ub", "uc")
DIGITALS = ("PICKUP", "BLOCKED", "TRIP", "CB OPEN")
BLOCK_ON = profile.SOE["block received"]
BLOCK_OFF = profile.SOE["block released"]
CB_OPENED = profile.SOE["breaker opened"]
CB_CLOSED = profile.SOE["breaker closed"]

TEXTS: dict[str, str] = {}


@dataclass(frozen=True)
class Phasor:
    rms: float                  # A or kV (phase to earth)
    deg: float = 0.0

    def at(self, t: float, freq: float) -> float:
        """The instantaneous value at ``t`` s from the angle reference."""
        return math.sqrt(2.0) * self.rms * math.cos(2.0 * math.pi * freq * t +
                                                    math.radians(self.deg))


@dataclass(frozen=True)
class RelayRecord:
    """A relay's disturbance record, as read from its registers."""

    breaker: str
    seq: int
    t: float                                  # inception, epoch s (the relay's clock)
    clear_ms: float                           # inception to breaker open
    fault_type: int                           # profile.FAULT_TYPES
    pre: Mapping[str, Phasor]                 # profile.PHASOR_NAMES -> phasor
    flt: Mapping[str, Phasor]

    @property
    def fault_type_name(self) -> str:
        return profile.FAULT_TYPES.get(self.fault_type, "")


@dataclass
class Analog:
    id: str
    ph: str
    ccbm: str
    unit: str
    values: list[float]                        # in the unit; NaN = missing
    primary: float = 1.0
    secondary: float = 1.0
    ps: str = "P"                              # values are primary quantities


@dataclass
class Digital:
    id: str
    ph: str
    ccbm: str
    values: list[int]
    normal: int = 0


@dataclass
class Recording:
    station: str
    device: str
    frequency: float
    rate: float
    start: float                               # epoch s of the first sample
    trigger: float                             # epoch s of the trigger (inception)
    analogs: list[Analog] = field(default_factory=list)
    digitals: list[Digital] = field(default_factory=list)

    @property
    def samples(self) -> int:
        lens = {len(a.values) for a in self.analogs} | {len(d.values) for d in self.digitals}
        if len(lens) > 1:
            raise ValueError(f"channels of unequal length: {sorted(lens)}")
        return lens.pop() if lens else 0


def ascii_id(text: str, limit: int = 64, empty: str = "_") -> str:
    """A field as the standard allows it: printable ASCII, no comma, at most ``limit``
    characters (``empty`` if nothing is left: an id may not be blank)."""
    out = "".join(c if 32 <= ord(c) < 127 and c != "," else "_" for c in text)
    return out[:limit].strip() or empty


def stamp(t: float) -> str:
    """``dd/mm/yyyy,hh:mm:ss.ssssss`` of epoch ``t``, local time, to the microsecond."""
    us = round(t * 1e6)
    d = dt.datetime.fromtimestamp(us // 1_000_000) + dt.timedelta(microseconds=us % 1_000_000)
    return d.strftime("%d/%m/%Y,%H:%M:%S.%f")


def _num(x: float) -> str:
    return f"{x:.9g}"


def _scale(values: list[float]) -> float:
    peak = max((abs(v) for v in values if not math.isnan(v)), default=0.0)
    return peak / FULL_SCALE if peak > 0 else 1.0


def cfg_text(rec: Recording) -> str:
    """The configuration file's text (CR LF line ends)."""
    n = rec.samples
    lines = [f"{ascii_id(rec.station)},{ascii_id(rec.device)},{REV_YEAR}",
             f"{len(rec.analogs) + len(rec.digitals)},{len(rec.analogs)}A,"
             f"{len(rec.digitals)}D"]
    for i, a in enumerate(rec.analogs, 1):
        lines.append(",".join([str(i), ascii_id(a.id), ascii_id(a.ph, 2, ""), ascii_id(a.ccbm),
                               ascii_id(a.unit, 32, ""), _num(_scale(a.values)), "0", "0",
                               str(-FULL_SCALE), str(FULL_SCALE), _num(a.primary),
                               _num(a.secondary), a.ps]))
    for i, d in enumerate(rec.digitals, 1):
        lines.append(",".join([str(i), ascii_id(d.id), ascii_id(d.ph, 2, ""), ascii_id(d.ccbm),
                               str(d.normal)]))
    lines += [_num(rec.frequency), "1", f"{_num(rec.rate)},{n}", stamp(rec.start),
              stamp(rec.trigger), "ASCII", "1"]
    return "\r\n".join(lines) + "\r\n"


def dat_lines(rec: Recording) -> Iterable[str]:
    """The data file's lines, one per sample."""
    scales = [_scale(a.values) for a in rec.analogs]
    for k in range(rec.samples):
        row = [str(k + 1), str(round(k * 1e6 / rec.rate))]
        for a, s in zip(rec.analogs, scales, strict=True):
            v = a.values[k]
            row.append(str(MISSING) if math.isnan(v) else str(round(v / s)))
        row += [str(int(bool(d.values[k]))) for d in rec.digitals]
        yield ",".join(row)


def dat_text(rec: Recording) -> str:
    return "".join(line + "\r\n" for line in dat_lines(rec))


def write(rec: Recording, cfg_path: Path) -> tuple[Path, Path]:
    """Write ``<name>.cfg`` and ``<name>.dat`` beside it, each whole or not at all (a
    temporary file renamed): a full disk leaves no half record behind. Raises OSError."""
    cfg_path = Path(cfg_path)
    dat_path = cfg_path.with_suffix(".dat")
    cfg_path.parent.mkdir(parents=True, exist_ok=True)
    done: list[Path] = []
    try:
        for path, text in ((dat_path, dat_text(rec)), (cfg_path, cfg_text(rec))):
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            try:
                with os.fdopen(fd, "w", encoding="ascii", newline="") as f:
                    f.write(text)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            done.append(path)
    except BaseException:
        for p in done:
            p.unlink(missing_ok=True)
        raise
    return cfg_path, dat_path


def digital_states(events: Iterable[SoeRecord], breaker: str, times_us: list[int],
                   closed_before: bool = True) -> list[list[int]]:
    """PICKUP, BLOCKED, TRIP and CB OPEN at each of ``times_us`` (epoch us: whole numbers,
    as a float epoch is only good to a few tenths of a us) from the relay's own SOE."""
    mine = sorted((e for e in events if e.breaker == breaker), key=SoeRecord.key)
    state = {"PICKUP": 0, "BLOCKED": 0, "TRIP": 0, "CB OPEN": 0 if closed_before else 1}
    out: list[list[int]] = [[] for _ in DIGITALS]
    i = 0
    for t in times_us:
        while i < len(mine) and mine[i].t_ms * 1000 <= t:
            e = mine[i]
            if e.code == PICKUP:
                state["PICKUP"] = 1
            elif e.code == DROP_OFF:
                state["PICKUP"] = state["TRIP"] = 0
            elif e.code == BLOCK_ON:
                state["BLOCKED"] = 1
            elif e.code == BLOCK_OFF:
                state["BLOCKED"] = 0
            elif e.code in TRIPS:
                state["TRIP"] = 1
            elif e.code == CB_OPENED:
                state["CB OPEN"] = 1
            elif e.code == CB_CLOSED:
                state["CB OPEN"] = 0
            i += 1
        for k, name in enumerate(DIGITALS):
            out[k].append(state[name])
    return out


def reconstruct(rec: RelayRecord, *, station: str, device: str, frequency: float = 50.0,
                rate: float = RATE_HZ, fault_ms: float | None = None,
                post_u: Mapping[str, Phasor] | None = None,
                events: Iterable[SoeRecord] = (), closed_before: bool = True,
                ct: tuple[float, float] = (600.0, 1.0),
                vt: tuple[float, float] = (10.0, 0.1)) -> Recording:
    """The recording of one relay's disturbance record (see the module's docstring).
    ``fault_ms``: how long the fault current flowed (default the relay's clear time);
    ``post_u``: the voltages after the breaker opened (None: not known, written missing);
    ``ct``/``vt``: the transformers' primary and secondary ratings for the cfg."""
    dur = rec.clear_ms if fault_ms is None else fault_ms
    dur_s = min(max(float(dur), 0.0) / 1000.0, MAX_FAULT_S)
    pre_s = PRE_CYCLES / frequency
    n = int(round((pre_s + dur_s + POST_CYCLES / frequency) * rate))
    rel = [k / rate - pre_s for k in range(n)]           # s from inception
    zero = Phasor(0.0)
    nan_ph = Phasor(math.nan)
    analogs: list[Analog] = []
    for name in (*CURRENTS, *VOLTAGES):
        is_i = name in CURRENTS
        after = zero if is_i else (post_u or {}).get(name, nan_ph)
        vals: list[float] = []
        for t in rel:
            ph = rec.pre[name] if t < 0 else rec.flt[name] if t < dur_s else after
            vals.append(math.nan if math.isnan(ph.rms) else ph.at(t, frequency))
        analogs.append(Analog(name.upper(), name[1].upper(), rec.breaker,
                              "A" if is_i else "kV", vals, *(ct if is_i else vt)))
    start = rec.t - pre_s
    t0_us = round(rec.t * 1e6)
    states = digital_states(events, rec.breaker,
                            [t0_us + round(t * 1e6) for t in rel], closed_before)
    digitals = [Digital(d, "", rec.breaker, states[k]) for k, d in enumerate(DIGITALS)]
    return Recording(station, device, frequency, rate, start, rec.t, analogs, digitals)
