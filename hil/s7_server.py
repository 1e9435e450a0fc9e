"""A simulated Siemens S7 PLC's memory, served over ISO-on-TCP by python-snap7's Server.

The memory (data blocks, M, I, Q) is declared as data: a list of :class:`S7Field`
(name, area, DB, byte offset, type), from which the byte arrays are sized. The PLC
model reads and writes fields by name through :class:`S7Memory`, packed here with
``struct`` and never with the driver's codec (``fixedsite.drivers.s7_codec``): a
byte-order bug shared by both would cancel itself out and every test would pass.

The byte arrays are registered with the snap7 server *by reference*, so a client's
write lands in the same bytes the PLC model reads, and the model's ``set`` is visible
to the next client read without any copy. One lock guards them, shared with the
server's handler threads, so the model's read-modify-write of a bit and a client's
bit write into the same byte never lose each other.

``S7Memory.changes()`` and ``S7Memory.update()`` give the PLC scan the same contract as
the Modbus glue (hil/modbus_server.py, pull/push): ``changes()`` reports what masters
wrote since the last look; ``update()`` writes only the fields the PLC itself changed,
so a master's write landing between two scans is never overwritten with a stale value.

``S7Server.start()`` / ``stop()`` are coroutines: snap7's stop joins its threads
(blocking), so it runs in a worker thread and never stalls the event loop. A process
without a loop (a bench's server process) uses ``start_sync()`` / ``stop_sync()``.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import re
import socket
import struct
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from snap7.datatypes import S7Area, S7WordLen
from snap7.error import S7ConnectionError
from snap7.server import Server
from snap7.type import SrvArea

from fixedsite.hil.listen import check_port_free

log = logging.getLogger(__name__)

__all__ = ["AREAS", "TYPES", "S7Field", "S7Memory", "S7Server", "Value", "field", "tags"]

Value = bool | int | float

AREAS = ("DB", "M", "I", "Q")
# type -> (width in bytes, struct format; None for BOOL)
TYPES: dict[str, tuple[int, str | None]] = {
    "BOOL": (1, None), "BYTE": (1, ">B"), "SINT": (1, ">b"),
    "INT": (2, ">h"), "WORD": (2, ">H"),
    "DINT": (4, ">i"), "DWORD": (4, ">I"), "REAL": (4, ">f"),
}
_RANGES = {"BYTE": (0, 0xFF), "SINT": (-0x80, 0x7F), "INT": (-0x8000, 0x7FFF),
           "WORD": (0, 0xFFFF), "DINT": (-0x8000_0000, 0x7FFF_FFFF),
           "DWORD": (0, 0xFFFF_FFFF)}
_FLOAT32_MAX = 3.4028234663852886e38
_SIZE_LETTER = {1: "B", 2: "W", 4: "D"}
_DEFAULT_TYPE = {"B": "BYTE", "W": "INT", "D": "DINT"}   # no ":TYPE" suffix needed
_SRV_AREA = {"M": SrvArea.MK, "I": SrvArea.PE, "Q": SrvArea.PA}
_S7_AREA = {"DB": S7Area.DB, "M": S7Area.MK, "I": S7Area.PE, "Q": S7Area.PA}
MAX_DB = 65535
MAX_OFFSET = 65535
SLACK = 8   # bytes after the last field of each area: room to add a field by hand


@dataclass(frozen=True, slots=True)
class S7Field:
    """One named value in the simulated PLC's memory."""

    name: str
    area: str            # "DB", "M", "I" or "Q"
    db: int              # DB number; 0 for M, I, Q
    offset: int          # byte offset in the DB or area
    type: str            # one of TYPES
    bit: int | None = None   # 0..7 for BOOL, else None

    def __post_init__(self) -> None:
        where = f"S7 field {self.name!r}"
        if not self.name:
            raise ValueError("an S7 field needs a name")
        if self.area not in AREAS:
            raise ValueError(f"{where}: area {self.area!r} is not one of {', '.join(AREAS)}")
        if self.type not in TYPES:
            raise ValueError(f"{where}: type {self.type!r} is not one of {', '.join(TYPES)}")
        if self.area == "DB":
            if not 1 <= self.db <= MAX_DB:
                raise ValueError(f"{where}: DB number {self.db} is outside 1..{MAX_DB}")
        elif self.db != 0:
            raise ValueError(f"{where}: area {self.area} has no DB number (give db=0)")
        if not 0 <= self.offset <= MAX_OFFSET - self.width + 1:
            raise ValueError(f"{where}: byte offset {self.offset} is outside "
                             f"0..{MAX_OFFSET - self.width + 1} for {self.type}")
        if self.type == "BOOL":
            if self.bit is None or not 0 <= self.bit <= 7:
                raise ValueError(f"{where}: a BOOL needs a bit 0..7, got {self.bit!r}")
        elif self.bit is not None:
            raise ValueError(f"{where}: only a BOOL has a bit ({self.type} got bit={self.bit})")

    @property
    def width(self) -> int:
        return TYPES[self.type][0]

    @property
    def end(self) -> int:
        return self.offset + self.width

    @property
    def notation(self) -> str:
        """Siemens notation, the canonical form drivers/s7_codec.py parses back."""
        if self.type == "BOOL":
            head = f"DB{self.db}.DBX" if self.area == "DB" else self.area
            return f"{head}{self.offset}.{self.bit}"
        size = _SIZE_LETTER[self.width]
        head = f"DB{self.db}.DB{size}" if self.area == "DB" else f"{self.area}{size}"
        suffix = "" if self.type == _DEFAULT_TYPE[size] else f":{self.type}"
        return f"{head}{self.offset}{suffix}"


_NOTATION_RE = re.compile(
    r"^(?:DB(?P<db>\d+)\.DB(?P<dbsize>[XBWD])|(?P<area>[MIQ])(?P<size>[BWD]?))"
    r"(?P<offset>\d+)(?:\.(?P<bit>\d))?(?::(?P<type>[A-Z]+))?$")


def field(name: str, notation: str) -> S7Field:
    """A field from Siemens notation (``field("run_cmd", "DB10.DBX4.3")``), so a plant's
    data blocks can be declared in the words of the PLC program's symbol table."""
    t = notation.strip().upper()
    m = _NOTATION_RE.match(t)
    if m is None:
        raise ValueError(f"S7 field {name!r}: {notation!r} is not Siemens notation "
                         "(e.g. DB10.DBX4.3, DB10.DBW6:WORD, MD40:REAL, I0.3)")
    if m["db"] is not None:
        area, db, size = "DB", int(m["db"]), m["dbsize"]
    else:
        area, db, size = m["area"], 0, m["size"] or "X"
    if size == "X":
        if m["bit"] is None or m["type"] not in (None, "BOOL"):
            raise ValueError(f"S7 field {name!r}: {notation!r}: a bit address is "
                             "<byte>.<bit> and holds a BOOL")
        return S7Field(name, area, db, int(m["offset"]), "BOOL", int(m["bit"]))
    if m["bit"] is not None:
        raise ValueError(f"S7 field {name!r}: {notation!r}: only X addresses take .<bit>")
    dtype = m["type"] or _DEFAULT_TYPE[size]
    if dtype not in TYPES or dtype == "BOOL" or _SIZE_LETTER[TYPES[dtype][0]] != size:
        raise ValueError(f"S7 field {name!r}: {notation!r}: {dtype} does not fit size {size}")
    return S7Field(name, area, db, int(m["offset"]), dtype)


def tags(fields: Iterable[S7Field]) -> Iterator[tuple[str, str, str]]:
    """(name, notation, type) rows, in area, DB and address order, for a tag listing."""
    order = {a: i for i, a in enumerate(AREAS)}
    for f in sorted(fields, key=lambda f: (order[f.area], f.db, f.offset, f.bit or 0)):
        yield f.name, f.notation, f.type


def _check(f: S7Field, value: object) -> Value:
    """The value as stored, or ValueError naming the field and what fits."""
    if f.type == "BOOL":
        if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
            return bool(value)
        raise ValueError(f"{f.name} ({f.notation}): {value!r} is not a BOOL (True/False)")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{f.name} ({f.notation}): {value!r} is not a number for {f.type}")
    if f.type == "REAL":
        if not math.isfinite(value) or abs(value) > _FLOAT32_MAX:
            raise ValueError(f"{f.name} ({f.notation}): {value!r} does not fit REAL "
                             f"(finite, |x| <= {_FLOAT32_MAX:.7g}); to plant a NaN or "
                             "infinity write the raw bytes with S7Memory.write()")
        return float(value)
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"{f.name} ({f.notation}): {value!r} is not a whole number "
                         f"for {f.type}")
    iv = int(value)
    lo, hi = _RANGES[f.type]
    if not lo <= iv <= hi:
        raise ValueError(f"{f.name} ({f.notation}): {value!r} is outside {f.type} "
                         f"range {lo}..{hi}")
    return iv


class S7Memory:
    """The PLC's memory as byte arrays, with named access to the declared fields.

    Every access holds ``lock``; the server's handler threads hold the same lock, so a
    read never sees half a write and a bit set here never races a client's bit write
    into the same byte.
    """

    def __init__(self, fields: Iterable[S7Field], slack: int = SLACK) -> None:
        if slack < 0:
            raise ValueError(f"slack {slack} is negative")
        self.fields: dict[str, S7Field] = {}
        for f in fields:
            if f.name in self.fields:
                raise ValueError(f"S7 field {f.name!r} is declared twice")
            self.fields[f.name] = f
        _check_overlaps(self.fields.values())
        ends: dict[tuple[str, int], int] = {("M", 0): 0, ("I", 0): 0, ("Q", 0): 0}
        for f in self.fields.values():
            ends[(f.area, f.db)] = max(ends.get((f.area, f.db), 0), f.end)
        size = {k: min(end + slack, MAX_OFFSET + 1) for k, end in ends.items()}
        self.dbs: dict[int, bytearray] = {db: bytearray(n) for (a, db), n in sorted(size.items())
                                          if a == "DB"}
        self.m = bytearray(size[("M", 0)])
        self.i = bytearray(size[("I", 0)])
        self.q = bytearray(size[("Q", 0)])
        self.lock = threading.Lock()
        self._seen: dict[str, Value] = {name: self._get(f) for name, f in self.fields.items()}

    def area(self, area: str, db: int = 0) -> bytearray:
        """The live byte array of an area (a DB by number)."""
        if area == "DB":
            try:
                return self.dbs[db]
            except KeyError:
                raise ValueError(f"DB{db} is not declared (declared: "
                                 + (", ".join(f"DB{n}" for n in self.dbs) or "none")
                                 + ")") from None
        if area == "M":
            return self.m
        if area == "I":
            return self.i
        if area == "Q":
            return self.q
        raise ValueError(f"area {area!r} is not one of {', '.join(AREAS)}")

    def field(self, name: str) -> S7Field:
        try:
            return self.fields[name]
        except KeyError:
            raise KeyError(f"no S7 field {name!r}") from None

    def get(self, name: str) -> Value:
        f = self.field(name)
        with self.lock:
            return self._get(f)

    def set(self, name: str, value: Value) -> None:
        """Write a field as the PLC program would; a BOOL changes only its own bit."""
        f = self.field(name)
        v = _check(f, value)
        with self.lock:
            self._put(f, v)
            self._seen[name] = self._get(f)

    def update(self, values: Mapping[str, Value]) -> list[str]:
        """Write the fields whose value the PLC changed since the last look; names written.

        A field whose value equals what was last seen is left alone, so a master's write
        that landed since then survives until ``changes()`` hands it to the PLC.
        """
        checked = [(self.field(n), _check(self.field(n), v)) for n, v in values.items()]
        written = []
        with self.lock:
            for f, v in checked:
                if _packed(f, v) != _packed(f, self._seen[f.name]):
                    self._put(f, v)
                    self._seen[f.name] = self._get(f)
                    written.append(f.name)
        return written

    def changes(self) -> dict[str, Value]:
        """Fields that changed since the last look other than by ``set``/``update``
        (i.e. a master wrote them), with their new values."""
        out: dict[str, Value] = {}
        with self.lock:
            for name, f in self.fields.items():
                now = self._get(f)
                if _packed(f, now) != _packed(f, self._seen[name]):
                    out[name] = now
                    self._seen[name] = now
        return out

    def snapshot(self) -> dict[str, Value]:
        with self.lock:
            return {name: self._get(f) for name, f in self.fields.items()}

    def read(self, area: str, db: int, offset: int, size: int) -> bytes:
        """Raw bytes, as a client would read them."""
        buf = self.area(area, db)
        if offset < 0 or size < 0 or offset + size > len(buf):
            raise ValueError(f"{_area_name(area, db)}: bytes {offset}..{offset + size - 1} "
                             f"are outside 0..{len(buf) - 1}")
        with self.lock:
            return bytes(buf[offset:offset + size])

    def write(self, area: str, db: int, offset: int, data: bytes) -> None:
        """Raw bytes, for a fault a typed ``set`` refuses (a NaN, a torn value).

        Not remembered as the PLC's own write: a field it touches shows in
        ``changes()``, as if a master had written it."""
        buf = self.area(area, db)
        if offset < 0 or offset + len(data) > len(buf):
            raise ValueError(f"{_area_name(area, db)}: bytes {offset}..{offset + len(data) - 1}"
                             f" are outside 0..{len(buf) - 1}")
        with self.lock:
            buf[offset:offset + len(data)] = data

    # -- unlocked helpers: the caller holds self.lock
    def _get(self, f: S7Field) -> Value:
        buf = self.area(f.area, f.db)
        if f.type == "BOOL":
            return bool(buf[f.offset] >> (f.bit or 0) & 1)
        fmt = TYPES[f.type][1]
        assert fmt is not None
        v: int | float = struct.unpack_from(fmt, buf, f.offset)[0]
        return v

    def _put(self, f: S7Field, v: Value) -> None:
        buf = self.area(f.area, f.db)
        if f.type == "BOOL":
            mask = 1 << (f.bit or 0)
            buf[f.offset] = buf[f.offset] | mask if v else buf[f.offset] & ~mask
            return
        fmt = TYPES[f.type][1]
        assert fmt is not None
        struct.pack_into(fmt, buf, f.offset, v)


def _packed(f: S7Field, v: Value) -> bytes | bool:
    """What the PLC stores: compares REALs as float32, as the bytes do."""
    if f.type == "BOOL":
        return bool(v)
    fmt = TYPES[f.type][1]
    assert fmt is not None
    return struct.pack(fmt, v)


def _area_name(area: str, db: int) -> str:
    return f"DB{db}" if area == "DB" else area


def _check_overlaps(fields: Iterable[S7Field]) -> None:
    """Two fields sharing bytes would make one's write the other's garbage; only BOOLs on
    different bits may share a byte. Sorted by offset, an overlap anywhere shows as an
    overlap of two neighbours."""
    by_area: dict[tuple[str, int], list[S7Field]] = {}
    for f in fields:
        by_area.setdefault((f.area, f.db), []).append(f)
    for group in by_area.values():
        group.sort(key=lambda f: (f.offset, f.bit or 0))
        for a, b in zip(group, group[1:], strict=False):
            if b.offset >= a.end:
                continue
            if a.type == b.type == "BOOL" and a.offset == b.offset and a.bit != b.bit:
                continue
            raise ValueError(f"S7 fields {a.name!r} ({a.notation}) and {b.name!r} "
                             f"({b.notation}) overlap")


class _BitData(bytearray):
    """Write data that carries the bit of a BIT write from the parser to the writer."""

    bit: int = 0


class _BitExactServer(Server):
    """snap7's Server, doing what a real S7 CPU does where snap7 3.3.0 does not.

    1. A BIT write changes exactly that bit. In snap7 3.3.0,
       ``Server._parse_address_specification`` turns a BIT address (byte*8 + bit) into the
       byte offset and drops the bit; ``_write_to_memory_area`` then stores the request's
       data byte (0x01 or 0x00) over the whole byte. Writing DB10.DBX4.3 = 1 thus sets
       bit 0 instead of bit 3 and clears the seven bits beside it, among them bits the PLC
       program owns. The controller relies on the CPU's behaviour (it sends a BIT write
       and never read-modify-writes a byte the PLC also writes), so the simulator must
       have it too. Fixed here: the parser keeps the bit on the write data
       (:class:`_BitData`) and the writer sets or clears that one bit under the area lock.
    2. A BIT read answers 0 or 1 for that bit. snap7 answered the whole byte (DBX4.3
       read 0x80 when only bit 7 was set), so a read-back of a bit write would pass
       whatever was written. Only the single-item read is fixed: the multi-item read,
       which AsyncClient never sends, still answers the byte.
    3. A write running past the end of a block is refused whole. snap7 wrote the part
       that fit, then answered an error.
    4. ``stop()`` drops the connected clients at once, as a PLC switched off or
       restarted does. snap7 only stops its accept loop; each client thread notices within
       5 s (its receive timeout) and stop() joins each for up to 1 s, so clients were
       served by a "stopped" server and the event loop waited.
    """

    def __init__(self) -> None:
        super().__init__(log=False)
        self._socks: set[socket.socket] = set()
        self._socks_lock = threading.Lock()
        self._stopping = False

    def _parse_address_specification(self, addr_spec: bytes) -> dict[str, Any]:
        spec = super()._parse_address_specification(addr_spec)
        if spec and spec.get("word_len") == S7WordLen.BIT and len(addr_spec) >= 12:
            spec["bit"] = addr_spec[11] & 0x07   # low 3 bits of the 24-bit bit address
        return spec

    def _handle_read_area(self, request: dict[str, Any],
                          client_address: tuple[str, int]) -> bytes:
        response = bytes(super()._handle_read_area(request, client_address))
        spec = (request.get("parameters") or {}).get("address_spec") or {}
        # one item, read OK (return code 0xFF after the 12-byte header and 2-byte
        # parameters) and one data byte: keep only the addressed bit
        if "bit" in spec and len(response) == 19 and response[14] == 0xFF:
            return response[:-1] + bytes([response[-1] >> spec["bit"] & 1])
        return response

    def _parse_write_address(self, request: dict[str, Any]) -> (
            tuple[S7Area, int, int, int, bytearray] | None):
        parsed = super()._parse_write_address(request)
        spec = (request.get("parameters") or {}).get("address_spec") or {}
        if parsed is None or "bit" not in spec:
            return parsed
        area, db, start, count, data = parsed
        bitdata = _BitData(data)
        bitdata.bit = spec["bit"]
        return area, db, start, count, bitdata

    def _write_to_memory_area(self, area: S7Area, db_number: int, start: int,
                              write_data: bytearray) -> bool:
        key = (area, db_number)
        if not isinstance(write_data, _BitData):
            buf = self.memory_areas.get(key)
            if buf is None or not 0 <= start <= len(buf) - len(write_data):
                return False   # refused whole: snap7 wrote the part that fit first
            return bool(super()._write_to_memory_area(area, db_number, start, write_data))
        if key not in self.memory_areas or len(write_data) != 1 or write_data[0] > 1:
            return False   # answered as a write error, as a CPU refuses a bad bit write
        with self.area_locks[key]:
            buf = self.memory_areas[key]
            if not 0 <= start < len(buf):
                return False
            mask = 1 << write_data.bit
            buf[start] = buf[start] | mask if write_data[0] else buf[start] & ~mask
        return True

    def _handle_client(self, client_socket: socket.socket, address: tuple[str, int]) -> None:
        with self._socks_lock:
            if self._stopping:
                client_socket.close()
                return
            self._socks.add(client_socket)
        try:
            super()._handle_client(client_socket, address)
        finally:
            with self._socks_lock:
                self._socks.discard(client_socket)

    def start(self, tcp_port: int = 102) -> int:
        with self._socks_lock:
            self._stopping = False
        return int(super().start(tcp_port))

    def stop(self) -> int:
        with self._socks_lock:
            self._stopping = True
            for s in self._socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)   # its handler's recv returns at once
                except OSError:
                    pass
        return int(super().stop())


class S7Server:
    """One simulated S7 PLC on ``host:port``: its memory served by a snap7 Server.

    The data survives stop/start: the byte arrays belong to ``memory``, and the same
    snap7 Server object is started again.
    """

    def __init__(self, memory: S7Memory, port: int, host: str = "127.0.0.1") -> None:
        if not 1 <= port <= 65535:
            raise ValueError(f"S7 server: port {port} is outside 1..65535")
        if host in ("0.0.0.0", ""):
            raise ValueError("the S7 HIL server listens on one interface (127.0.0.1), "
                             "never on every interface (0.0.0.0)")
        self.memory, self.host, self.port = memory, host, port
        self._srv = _BitExactServer()
        for db, buf in memory.dbs.items():
            self._srv.register_area(SrvArea.DB, db, buf)
        for area in ("M", "I", "Q"):
            self._srv.register_area(_SRV_AREA[area], 0, memory.area(area))
        # the server's handler threads take the memory's own lock: one lock for the
        # model's read-modify-write of a bit and a client's write into the same byte
        for key in self._srv.area_locks:
            self._srv.area_locks[key] = memory.lock

    @property
    def running(self) -> bool:
        return bool(self._srv.running)

    def start_sync(self) -> None:
        """Listen; OSError naming the port if something already listens there."""
        if self.running:
            return
        check_port_free(self.host, self.port, "S7 server")
        try:
            self._srv.start_to(self.host, self.port)
        except S7ConnectionError as e:   # the bind failed after all (a race with the probe)
            raise OSError(errno.EADDRINUSE, f"S7 server: cannot listen on "
                          f"{self.host}:{self.port}: {e}") from None
        log.info("S7 server on %s:%d (%s)", self.host, self.port,
                 ", ".join([f"DB{n}" for n in self.memory.dbs] + ["M", "I", "Q"]))

    def stop_sync(self) -> None:
        """Stop listening and drop every client, as a PLC switched off would."""
        self._srv.stop()

    async def start(self) -> None:
        self.start_sync()   # a bind and a thread start: quick, no need for a worker

    async def stop(self) -> None:
        await asyncio.to_thread(self.stop_sync)   # joins snap7's threads (~0.1 s)
