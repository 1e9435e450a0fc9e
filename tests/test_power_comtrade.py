"""Fault records as COMTRADE (issue 13, after a fault): written, then read back with an
independent reader (the ``comtrade`` package) and compared; and the fault recorder end to
end on soft tags: SOE gathered, fault located, records read and written, the report
published and kept even when the disk refuses the files."""

from __future__ import annotations

import datetime as dt
import errno
import math
import os
import string
from pathlib import Path
from typing import Any

import comtrade as reader
import numpy as np
import pytest
from test_power_soe import T0, Relay, demo_system, relay_store

from fixedsite.clock import ManualClock
from fixedsite.sequences.power import comtrade, locate, records, soe
from fixedsite.sequences.power.comtrade import Phasor, RelayRecord
from fixedsite.sequences.power.soe import SoeRecord
from fixedsite.tags import Quality
from fixedsite.texts import translate

CODE = soe.profile.SOE
PRE = {"ia": Phasor(180.0, -30.0), "ib": Phasor(181.0, -150.0), "ic": Phasor(179.0, 90.0),
       "ua": Phasor(5.80, 0.0), "ub": Phasor(5.78, -120.0), "uc": Phasor(5.79, 120.0)}
FLT = {"ia": Phasor(5200.0, -75.0), "ib": Phasor(5150.0, 105.0), "ic": Phasor(60.0, 90.0),
       "ua": Phasor(3.1, -10.0), "ub": Phasor(3.0, -170.0), "uc": Phasor(5.7, 120.0)}
INCEPTION = T0 + 0.123


def _load(cfg: Path) -> reader.Comtrade:
    rec = reader.Comtrade()
    rec.load(str(cfg), str(cfg.with_suffix(".dat")))
    return rec


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def _events(breaker: str, t: float) -> list[SoeRecord]:
    """Picked up at inception + 2 ms, blocked from + 5 ms, trip at + 100 ms, breaker open
    at + 145 ms, dropped off at + 147 ms."""
    out = []
    for k, (code, ms) in enumerate((("pickup", 2), ("block received", 5), ("trip fast", 100),
                                    ("breaker opened", 145), ("drop-off", 147),
                                    ("block released", 150)), 1):
        t_ms = round(t * 1000) + ms
        out.append(SoeRecord(breaker, k, CODE[code], t_ms // 1000, t_ms % 1000, 0, 4))
    return out


# ---- the writer, read back ----------------------------------------------------------------

def test_a_record_reads_back_with_an_independent_reader(tmp_path: Path) -> None:
    rec = RelayRecord("Q212", 7, INCEPTION, 145.0, 2, PRE, FLT)
    post = {n: Phasor(5.79, PRE[n].deg) for n in ("ua", "ub", "uc")}
    recording = comtrade.reconstruct(rec, station="power district1", device="Q212 relay 11",
                                     post_u=post, events=_events("Q212", INCEPTION),
                                     ct=(400.0, 1.0), vt=(10.0, 0.1))
    cfg, dat = comtrade.write(recording, tmp_path / "rec" / "x.cfg")
    assert dat == tmp_path / "rec" / "x.dat" and sorted(os.listdir(tmp_path / "rec")) == \
        ["x.cfg", "x.dat"]                                 # no temporary file left
    raw = cfg.read_bytes()
    assert raw.isascii() and raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    got = _load(cfg)
    assert (got.station_name, got.rec_dev_id, got.rev_year) == ("power district1",
                                                               "Q212 relay 11", "1999")
    assert got.analog_channel_ids == ["IA", "IB", "IC", "UA", "UB", "UC"]
    assert got.status_channel_ids == ["PICKUP", "BLOCKED", "TRIP", "CB OPEN"]
    assert got.cfg.analog_channels[0].uu == "A" and got.cfg.analog_channels[3].uu == "kV"
    assert got.cfg.analog_channels[0].primary == 400.0
    assert got.frequency == 50.0 and got.cfg.sample_rates == [[1000.0, 345]]
    assert got.total_samples == 100 + 145 + 100 and got.ft == "ASCII"
    assert got.start_timestamp == dt.datetime.fromtimestamp(T0) + dt.timedelta(
        milliseconds=23)                                   # 5 cycles before inception
    assert got.trigger_timestamp == dt.datetime.fromtimestamp(T0) + dt.timedelta(
        milliseconds=123)
    t = np.array(got.time)
    assert t[0] == 0.0 and t[1] == pytest.approx(0.001) and t[-1] == pytest.approx(0.344)
    a = [np.array(x) for x in got.analog]
    for i, name in enumerate(("ia", "ib", "ic", "ua", "ub", "uc")):
        for cycle in range(5):                             # each pre-fault cycle
            seg = a[i][20 * cycle:20 * cycle + 20]
            assert _rms(seg) == pytest.approx(PRE[name].rms, rel=0.01)
        fault = a[i][100:240]                              # the fault's 7 whole cycles
        assert _rms(fault) == pytest.approx(FLT[name].rms, rel=0.01)
    assert _rms(a[0][225:245]) == pytest.approx(FLT["ia"].rms, rel=0.01)   # to the opening
    assert np.all(a[0][245:] == 0.0) and np.all(a[2][245:] == 0.0)        # then none
    assert _rms(a[3][245:345]) == pytest.approx(5.79, rel=0.01)          # the bus after
    st = [np.array(x) for x in got.status]
    assert list(st[0][100:104]) == [0, 0, 1, 1]            # picked up at + 2 ms
    assert st[1][104] == 0 and st[1][105] == 1             # blocked at + 5 ms
    assert st[2][199] == 0 and st[2][200] == 1             # trip at + 100 ms
    assert st[3][244] == 0 and st[3][245] == 1 and st[3][0] == 0   # open at + 145 ms
    assert st[0][247] == 0 and st[2][247] == 0 and st[1][250] == 0   # reset after


def test_current_is_zero_after_opening_and_an_unknown_voltage_is_missing(tmp_path: Path
                                                                          ) -> None:
    rec = RelayRecord("Q511", 2, INCEPTION, 60.0, 1, PRE, FLT)
    recording = comtrade.reconstruct(rec, station="power face1", device="Q511 relay 19")
    cfg, _ = comtrade.write(recording, tmp_path / "y.cfg")
    got = _load(cfg)
    after = slice(100 + 60, 100 + 60 + 100)
    ia, ua = np.array(got.analog[0]), np.array(got.analog[3])
    assert got.total_samples == 260
    assert np.all(ia[after] == 0.0)                        # the breaker opened
    assert np.all(np.isnan(ua[after]))                     # written 99999: not known
    assert _rms(ua[:100]) == pytest.approx(5.80, rel=0.01)
    assert "99999" in cfg.with_suffix(".dat").read_text()


def test_ids_are_ascii_and_junk_clear_times_are_bounded(tmp_path: Path) -> None:
    rec = RelayRecord("Q1,01", 1, INCEPTION, 65535.0, 1, PRE, FLT)
    recording = comtrade.reconstruct(rec, station="供电 central", device="Q1,01 relay")
    text = comtrade.cfg_text(recording)
    assert text.isascii()
    assert text.splitlines()[0] == "__ central,Q1_01 relay,1999"
    assert recording.samples == 100 + 10_000 + 100           # at most 10 s of fault drawn


def test_a_write_that_fails_half_way_leaves_no_half_record(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    recording = comtrade.reconstruct(RelayRecord("Q211", 1, INCEPTION, 80.0, 1, PRE, FLT),
                                     station="s", device="d")
    real = os.replace
    calls = []

    def replace(src: str, dst: Any) -> None:
        calls.append(dst)
        if len(calls) == 2:                                # the .cfg, after the .dat
            raise OSError(errno.ENOSPC, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(comtrade.os, "replace", replace)
    with pytest.raises(OSError, match="No space"):
        comtrade.write(recording, tmp_path / "z.cfg")
    assert os.listdir(tmp_path) == []
    monkeypatch.setattr(comtrade.os, "replace", real)
    (tmp_path / "a_file").write_text("not a directory")
    with pytest.raises(OSError):
        comtrade.write(recording, tmp_path / "a_file" / "a.cfg")


# ---- the recorder, end to end on soft tags ------------------------------------------------

class History:
    def __init__(self) -> None:
        self.events: list[tuple[float, str, str, str, dict[str, Any]]] = []

    def event(self, t: float, kind: str, source: str, text: str,
              data: dict[str, Any] | None = None) -> None:
        self.events.append((t, kind, source, text, data or {}))


PATH = ("Q101", "Q111", "Q201", "Q212")                   # a fault on the cable to face 1


class Site:
    """The demo network's relays as soft tags, and the recorder on them."""

    def __init__(self, storage: Path) -> None:
        self.clock = ManualClock(T0 + 100)
        self.system = demo_system()
        self.store = relay_store(self.system, self.clock)
        self.relays = {b: Relay(self.store, b) for b in self.system.equipment
                       if b.startswith("Q")}
        self.normal = {b: not self.system.equipment[b].normally_open  # type: ignore[union-attr]
                       for b in self.relays}
        for b, r in self.relays.items():
            self.position(b, self.normal[b])
            r.set("picked_up", False)
            for s in ("uab", "ubc", "uca"):
                r.set(s, 10.0)
        self.rec = records.FaultRecorder("power", self.system, self.store, self.clock, storage)
        self.history = History()
        self.rec.historian = self.history
        self.heard: list[locate.FaultReport] = []
        self.rec.on_fault.append(self.heard.append)

    def position(self, b: str, closed: bool) -> None:
        self.relays[b].set("breaker_closed", closed)
        self.relays[b].set("breaker_open", not closed)

    def tag(self, name: str) -> Any:
        return self.store[f"power.fault.{name}"].value

    def fault(self, t: float) -> None:
        """The SOE of a fault on L_F1 cleared by Q212, up to the trip (still picked up)."""
        for b in PATH:
            self.relays[b].push("pickup", t + 0.002, 5200)
            self.relays[b].set("picked_up", True)
        self.relays["Q201"].push("block received", t + 0.004)
        self.relays["Q212"].push("trip fast", t + 0.100)

    def cleared(self, t: float) -> None:
        self.relays["Q212"].push("breaker opened", t + 0.145)
        self.position("Q212", False)
        for b in PATH:
            self.relays[b].push("drop-off", t + 0.148)
            self.relays[b].set("picked_up", False)
        self.relays["Q201"].push("block released", t + 0.150)

    def record(self, b: str, t: float, seq: int = 1) -> None:
        r = self.relays[b]
        t_ms = round(t * 1000)
        for k, v in (("rec_seq", seq), ("rec_s", t_ms // 1000), ("rec_ms", t_ms % 1000),
                     ("rec_clear_ms", 145), ("rec_type", 1)):
            r.set(k, v)
        for n in PRE:
            r.set(f"pre_{n}", PRE[n].rms)
            r.set(f"pre_{n}_deg", PRE[n].deg)
            r.set(f"flt_{n}", FLT[n].rms)
            r.set(f"flt_{n}_deg", FLT[n].deg)

    async def scans(self, n: int, dt_s: float = 0.5) -> None:
        for _ in range(n):
            self.clock.advance(dt_s)
            await self.rec.scan()


async def test_recorder_locates_publishes_and_writes_the_record(tmp_path: Path) -> None:
    site = Site(tmp_path)
    await site.rec.scan()
    assert site.tag("state") == "none" and site.tag("verdict") == ""
    t = site.clock.now()
    site.fault(t)
    await site.scans(1)
    assert site.tag("state") == "gathering" and site.heard == []
    await site.scans(4)                                    # still picked up: not over
    assert site.tag("state") == "gathering"
    site.cleared(t)
    await site.scans(1)
    assert site.tag("state") == "gathering"                # quiet for 1 s first
    await site.scans(2)
    assert site.tag("state") == "located"
    assert [(r.section, r.verdict, r.nearest) for r in site.heard] == [
        ("L_F1", "selective", "Q212")]
    assert (site.tag("section"), site.tag("verdict"), site.tag("nearest"),
            site.tag("opened")) == ("L_F1", "selective", "Q212", "Q212")
    assert site.tag("clearing_ms") == pytest.approx(143.0)   # first pickup + 2 ms to open
    assert site.tag("record") == "" and site.history.events == []   # record awaited
    sec, ms = divmod(round((t + 0.002) * 1000), 1000)    # the first pickup, whole ms
    stamp = dt.datetime.fromtimestamp(sec)
    assert site.tag("at") == stamp.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms:03d}"
    site.record("Q212", t)
    await site.scans(1)
    cfg = Path(site.tag("record"))
    assert cfg.parent == tmp_path / "records" / "power"
    assert cfg.name == stamp.strftime("%Y%m%d_%H%M%S_") + f"{ms:03d}_Q212.cfg"
    assert site.tag("record_error") == ""
    got = _load(cfg)
    ia = np.array(got.analog[0])
    assert _rms(ia[100:240]) == pytest.approx(FLT["ia"].rms, rel=0.01)
    assert got.trigger_timestamp == dt.datetime.fromtimestamp(round(t, 3))
    assert site.tag("summary") == ("Fault on L_F1: cleared by Q212 alone in 143 ms "
                                   "(selective); three-phase")
    [(_, kind, source, text, data)] = site.history.events
    assert (kind, source, text) == ("power", "power.fault", site.tag("summary"))
    assert data["records"] == [str(cfg)] and data["record_error"] == ""
    assert data["fault_type"] == "three-phase" and data["verdict"] == "selective"
    assert ["Q212", 2, "trip fast", round(t + 0.1, 3), 0] in data["events"]
    await site.scans(3)                                    # nothing new: nothing more
    assert len(site.history.events) == 1 and site.tag("state") == "located"


async def test_a_disk_that_refuses_the_files_costs_the_files_not_the_report(tmp_path: Path
                                                                          ) -> None:
    blocker = tmp_path / "storage"
    blocker.write_text("a file where the storage dir should be")
    site = Site(blocker)
    await site.rec.scan()
    t = site.clock.now()
    site.fault(t)
    site.cleared(t)
    site.record("Q212", t)
    await site.scans(4)
    assert site.tag("state") == "located" and site.tag("verdict") == "selective"
    assert site.tag("section") == "L_F1" and site.tag("record") == ""
    err = site.tag("record_error")
    assert err.startswith("fault record not written: ") and str(blocker) in err
    assert translate(err, "zh_CN").startswith("故障录波文件未写入：")
    [(_, _, _, _, data)] = site.history.events
    assert data["record_error"] == err and data["records"] == []
    assert site.rec.report is not None and site.rec.report.verdict == "selective"
    # the next fault is still analysed (the scan never died)
    t2 = site.clock.now()
    site.position("Q212", True)
    site.fault(t2)
    site.cleared(t2)
    await site.scans(4)
    assert len(site.heard) == 2 and site.tag("state") == "located"


async def test_a_record_that_never_comes_is_said_and_gaps_warn(tmp_path: Path) -> None:
    site = Site(tmp_path)
    await site.rec.scan()
    t = site.clock.now()
    site.record("Q212", t - 3600)                         # an old record: not this fault's
    for _ in range(20):                                    # Q111's ring overrun
        site.relays["Q111"].push("block received", t + 0.001)
    site.fault(t)
    site.cleared(t)
    site.relays["Q301"].set("soe_seq", 0, Quality.BAD)    # a gateway not answering
    await site.scans(4)
    assert site.tag("state") == "located" and site.tag("record") == ""
    assert site.store.value("power.soe.lost") == 6.0      # 20 + pickup + drop-off - 16
    r = site.heard[0]
    assert any(w.startswith("Q111: ") and "event records lost" in w for w in r.warnings)
    assert "events of Q301 could not be read" in r.warnings
    await site.scans(int(records.REC_WAIT_S / 0.5) + 1)
    summary = site.tag("summary")
    assert "no disturbance record of Q212 for this fault within 10 s" in summary
    assert site.tag("record") == "" and site.tag("record_error") == ""
    zh = translate(summary, "zh_CN")
    assert "10 s 内未读到 Q212 本次故障的录波数据" in zh and "Q301 的事件记录无法读取" in zh


async def test_a_relay_stuck_picked_up_does_not_hold_the_report_back(tmp_path: Path) -> None:
    site = Site(tmp_path)
    await site.rec.scan()
    t = site.clock.now()
    site.fault(t)
    await site.scans(1)                                    # opened here
    await site.scans(int(records.MAX_WINDOW_S / 0.5) - 1)
    assert site.tag("state") == "gathering"
    await site.scans(1)
    assert site.tag("state") == "located" and site.tag("verdict") == "not cleared"
    assert site.store["power.fault.clearing_ms"].quality is Quality.BAD
    assert "the disturbance was still going after 30 s" in site.tag("summary")


async def test_a_transient_is_reported_and_kept_but_not_handed_to_restoration(
        tmp_path: Path) -> None:
    site = Site(tmp_path)
    await site.rec.scan()
    t = site.clock.now()
    for b in ("Q101", "Q112", "Q301", "Q312"):             # a motor start on face 2
        site.relays[b].push("pickup", t + 0.010, 700)
        site.relays[b].push("drop-off", t + 0.060, 500)
    await site.scans(4)
    assert (site.tag("state"), site.tag("verdict"), site.tag("section")) == (
        "located", "no trip", "face2")
    assert site.heard == []
    [(_, kind, _, text, data)] = site.history.events
    assert kind == "power" and data["verdict"] == "no trip" and data["records"] == []
    assert text == "Disturbance at face2: relays picked up and dropped off, nothing tripped"


async def test_switching_events_alone_are_no_fault_and_keep_the_last_report(
        tmp_path: Path) -> None:
    """A breaker that does not answer a command (restoration opening a stuck breaker) logs
    SOE but no protection picked up: the located fault stays shown, restoration is not
    told of a new 'fault' that would supersede its plan."""
    site = Site(tmp_path)
    await site.rec.scan()
    t = site.clock.now()
    site.fault(t)
    site.cleared(t)
    await site.scans(4)
    assert site.tag("state") == "located" and len(site.heard) == 1
    t2 = site.clock.now()
    site.relays["Q212"].push("open command", t2 + 0.001)
    site.relays["Q212"].push("breaker failed to open", t2 + 0.200)
    await site.scans(6)
    assert (site.tag("state"), site.tag("section"), site.tag("verdict")) == (
        "located", "L_F1", "selective")
    assert len(site.heard) == 1


async def test_published_tags_are_the_ones_the_system_declares(tmp_path: Path) -> None:
    site = Site(tmp_path)
    assert {t.path for t in site.rec.published} == set(records.published("power"))
    assert records.published("power")["power.fault.clearing_ms"] == "number"


# ---- the texts of these modules ------------------------------------------------------------

def _fields(template: str) -> list[str]:
    return sorted(f for _l, f, _s, _c in string.Formatter().parse(template) if f is not None)


@pytest.mark.parametrize("module", [soe, locate, comtrade, records])
def test_texts_have_their_chinese_with_the_same_fields_and_read_back(module: Any) -> None:
    for en, zh in module.TEXTS.items():
        assert _fields(en) == _fields(zh), en
        assert "; " not in en, en                          # the console splits on it
        args = {f: f"x{i}_{f}" for i, f in enumerate(_fields(en))}
        assert translate(en.format(**args), "zh_CN") == zh.format(**args)


def test_nan_safe_scale() -> None:
    assert comtrade._scale([math.nan, 0.0]) == 1.0
