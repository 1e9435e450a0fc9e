"""The uplink tests' server: ``fixedsite.hil.tsdb``."""

from fixedsite.hil.tsdb import BINARY, VictoriaMetrics

__all__ = ["BINARY", "VictoriaMetrics"]
