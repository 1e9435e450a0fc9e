"""Serve a Modbus-style PLC image (coils, discrete inputs, holding and input registers)
over S7, so any emulated PLC of the HIL can stand in for a Siemens CPU.

The mapping is fixed, so a config's addresses can be written down once (``siemens``):

=====================  ==========================================  =================
image                  S7 memory                                   example
=====================  ==========================================  =================
holding register i     DB1, word at byte 2i, big-endian            hr:10 -> DB1.DBW20
input register i       DB2, word at byte 2i, big-endian            ir:9 -> DB2.DBW18
register bit b of i    byte 2i + (b < 8), bit b % 8 (the register  ir:20.3 ->
                       is big-endian: bits 8-15 in the lower byte)  DB2.DBX41.3
two registers i, i+1   DBD 2i (high word first, as the PLC packs)  ir:21:float32 ->
                                                                   DB2.DBD42:REAL
coil i                 M(i // 8).(i % 8)                           coil:9 -> M1.1
discrete input i       I(i // 8).(i % 8)                           di:3 -> I0.3
=====================  ==========================================  =================

The types follow the register's: uint16 -> WORD, int16 -> INT, uint32 -> DWORD,
int32 -> DINT, float32 -> REAL, a bit -> BOOL. The memory is declared as
:class:`~fixedsite.hil.s7_server.S7Field` data (one field per point of the PLC's register
map, named as the map names it), sized exactly to the image, so a read past the end is
refused as a CPU refuses it.

Packing is this module's own (``struct``, bytes and bits by hand), never the driver's
codec: the HIL and the driver must each be right, or a shared byte-order bug would pass.

The scan contract is the Modbus glue's (hil/modbus_server.py): ``pull`` copies what
masters may write (DB1 -> ``hr``, M -> ``coils``) into the image; ``push`` writes back
only the registers and coils the PLC changed since, and the whole input side (DB2, I),
so a master's write landing between two scans is never overwritten with a stale image.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Protocol

from fixedsite.hil.s7_server import S7Field, S7Memory, S7Server, field

log = logging.getLogger(__name__)

__all__ = ["COIL_AREA", "DI_AREA", "HR_DB", "IR_DB", "S7ImageServer", "image_fields",
           "siemens"]

HR_DB = 1          # holding registers
IR_DB = 2          # input registers
COIL_AREA = "M"    # coils, one bit each
DI_AREA = "I"      # discrete inputs, one bit each



class Image(Protocol):
    """The four lists an emulated PLC keeps (the Modbus glue's ``Image``, declared
    again so an S7 unit does not load pymodbus)."""

    coils: list[bool]
    di: list[bool]
    hr: list[int]
    ir: list[int]


_REG_TYPES = {"uint16": ("W", "WORD"), "int16": ("W", "INT"), "uint32": ("D", "DWORD"),
              "int32": ("D", "DINT"), "float32": ("D", "REAL")}
_DEFAULT = {"W": "INT", "D": "DINT"}      # Siemens default of a size letter: no suffix
_ADDR_RE = re.compile(r"^(hr|ir|coil|di):(\d+)(?:\.(\d+))?(?::([a-z0-9]+))?$")
_EXPECTED = ("expected hr:<i>, ir:<i>, with .<bit 0-15> or :int16|uint16|int32|uint32|"
             "float32, or coil:<i>, di:<i>")


def siemens(address: str) -> str:
    """The Siemens notation of an image address under this module's mapping.

    A config for an S7 PLC served from an image must name the same bytes the server
    puts the value in; this is the one place that says where that is."""
    m = _ADDR_RE.match(address.strip().lower())
    if m is None:
        raise ValueError(f"{address!r} is not an image address; {_EXPECTED}")
    table, index, bit_s, dtype = m[1], int(m[2]), m[3], m[4]
    if table in ("coil", "di"):
        if bit_s is not None or dtype is not None:
            raise ValueError(f"{address!r}: a {table} is one bit; it takes no .<bit> "
                             "or :type")
        area = COIL_AREA if table == "coil" else DI_AREA
        return f"{area}{index // 8}.{index % 8}"
    db = HR_DB if table == "hr" else IR_DB
    if bit_s is not None:
        if dtype is not None:
            raise ValueError(f"{address!r}: a register bit is a bool; it takes no :type")
        bit = int(bit_s)
        if bit > 15:
            raise ValueError(f"{address!r}: bit {bit} is outside 0..15 (a register has "
                             "16 bits)")
        # big-endian: bits 8..15 are in the register's first byte, 0..7 in its second
        return f"DB{db}.DBX{2 * index + (1 if bit < 8 else 0)}.{bit % 8}"
    size, s7type = _REG_TYPES.get(dtype or "uint16", ("", ""))
    if not size:
        raise ValueError(f"{address!r}: unknown type {dtype!r}; {_EXPECTED}")
    suffix = "" if s7type == _DEFAULT[size] else f":{s7type}"
    return f"DB{db}.DB{size}{2 * index}{suffix}"


def image_fields(register_map: Iterable[tuple[str, str]]) -> list[S7Field]:
    """One S7 field per named point of a PLC's register map ((name, image address)
    pairs, e.g. ``hil.drainage.plc.register_map``), at its place under the mapping."""
    out = []
    for name, address in register_map:
        try:
            out.append(field(name, siemens(address)))
        except ValueError as e:
            raise ValueError(f"register map point {name!r}: {e}") from None
    return out


def _generic_map(image: Image) -> list[tuple[str, str]]:
    """Every register a word and every coil and input a bit, for an image whose PLC
    offers no register map."""
    return [*((f"hr.{i}", f"hr:{i}") for i in range(len(image.hr))),
            *((f"ir.{i}", f"ir:{i}") for i in range(len(image.ir))),
            *((f"coil.{i}", f"coil:{i}") for i in range(len(image.coils))),
            *((f"di.{i}", f"di:{i}") for i in range(len(image.di)))]


def _sized(fields: list[S7Field], image: Image) -> list[S7Field]:
    """The fields plus one spare byte at the end of each area the named points do not
    reach to, so each area is exactly as long as its part of the image."""
    need = {("DB", HR_DB): 2 * len(image.hr), ("DB", IR_DB): 2 * len(image.ir),
            (COIL_AREA, 0): (len(image.coils) + 7) // 8,
            (DI_AREA, 0): (len(image.di) + 7) // 8}
    out = list(fields)
    for (area, db), n in need.items():
        ends = [f.end for f in fields if (f.area, f.db) == (area, db)]
        if max(ends, default=0) > n:
            where = f"DB{db}" if area == "DB" else area
            raise ValueError(f"the register map reaches past the image in {where} "
                             f"({max(ends)} bytes, the image has {n})")
        if n and max(ends, default=0) < n:
            out.append(S7Field(f"spare.{area}{db or ''}", area, db, n - 1, "BYTE"))
    return out


class S7ImageServer:
    """A PLC image served over S7 on ``host:port``; the interface of ``ImageServer``
    (``start``/``stop``/``pull``/``push``/``running``), so a HIL unit may use either.

    The S7 memory and server are made once: a stop and start (a link fault) keep the
    same server, and ``start`` writes the whole image into it again first."""

    def __init__(self, image: Image, host: str, port: int,
                 register_map: Iterable[tuple[str, str]] | None = None) -> None:
        self.image = image
        self.host, self.port = host, port
        named = image_fields(_generic_map(image) if register_map is None else register_map)
        self.fields: list[S7Field] = named         # what --list-tags shows
        self.memory = S7Memory(_sized(named, image), slack=0)
        self.server = S7Server(self.memory, port, host)
        self._seen_coils = list(image.coils)
        self._seen_hr = list(image.hr)

    @property
    def running(self) -> bool:
        return self.server.running

    async def start(self) -> None:
        self._put_all()
        await self.server.start()

    async def stop(self) -> None:
        if self.server.running:
            await self.server.stop()

    async def pull(self) -> None:
        """Masters' writes (DB1 -> holding registers, M -> coils) into the PLC image."""
        if not self.running:
            return
        img, mem = self.image, self.memory
        with mem.lock:
            db1 = bytes(mem.dbs.get(HR_DB, b""))
            m = bytes(mem.area(COIL_AREA))
        img.hr[:] = [db1[2 * i] << 8 | db1[2 * i + 1] for i in range(len(img.hr))]
        img.coils[:] = [bool(m[i // 8] >> (i % 8) & 1) for i in range(len(img.coils))]
        self._seen_coils, self._seen_hr = list(img.coils), list(img.hr)

    async def push(self) -> None:
        """The PLC's outputs (DB2, I), and the registers and coils it changed, to the
        server; a register or coil the PLC left alone keeps what a master wrote."""
        if not self.running:
            return
        img, mem = self.image, self.memory
        with mem.lock:
            self._put_inputs()
            db1, m = mem.dbs.get(HR_DB, bytearray()), mem.area(COIL_AREA)
            for i, (now, seen) in enumerate(zip(img.hr, self._seen_hr, strict=True)):
                if now != seen:
                    db1[2 * i:2 * i + 2] = _word(now)
            for i, (now, seen) in enumerate(zip(img.coils, self._seen_coils, strict=True)):
                if now != seen:
                    _set_bit(m, i, now)
        self._seen_coils, self._seen_hr = list(img.coils), list(img.hr)

    def _put_all(self) -> None:
        img, mem = self.image, self.memory
        with mem.lock:
            self._put_inputs()
            if img.hr:
                mem.area("DB", HR_DB)[:] = b"".join(_word(v) for v in img.hr)
            m = mem.area(COIL_AREA)
            for i, v in enumerate(img.coils):
                _set_bit(m, i, v)
        self._seen_coils, self._seen_hr = list(img.coils), list(img.hr)

    def _put_inputs(self) -> None:
        """DB2 and I from the image; the caller holds the memory's lock."""
        img, mem = self.image, self.memory
        if img.ir:
            mem.area("DB", IR_DB)[:] = b"".join(_word(v) for v in img.ir)
        i_area = mem.area(DI_AREA)
        i_area[:] = bytes(len(i_area))
        for i, v in enumerate(img.di):
            if v:
                i_area[i // 8] |= 1 << (i % 8)


def _word(v: int) -> bytes:
    """A register as the CPU stores a WORD: big-endian. The image holds 0..65535 (a
    PLC's int16 is already in two's complement there)."""
    if not 0 <= v <= 0xFFFF:
        raise ValueError(f"register value {v} is outside 0..65535")
    return bytes((v >> 8, v & 0xFF))


def _set_bit(buf: bytearray, i: int, on: bool) -> None:
    mask = 1 << (i % 8)
    buf[i // 8] = buf[i // 8] | mask if on else buf[i // 8] & ~mask
