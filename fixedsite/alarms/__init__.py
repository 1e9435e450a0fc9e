"""Alarm management after ISA-18.2 / IEC 62682: definitions, the engine, the figures."""

from fixedsite.alarms.engine import Alarm, AlarmEngine, AlarmEvent
from fixedsite.alarms.model import AlarmDef, build_defs

__all__ = ["Alarm", "AlarmDef", "AlarmEngine", "AlarmEvent", "build_defs"]
