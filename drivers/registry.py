"""The protocol registry: the one place that names the protocols a PLC may speak.

Adding a protocol is one ``ProtocolSpec`` (``drivers/protocol.py``) in its own
``<name>_config.py`` and one line here; config, checks, runtime and benches take it from
``PROTOCOLS``.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field

from fixedsite.drivers import modbus_config, s7_config
from fixedsite.drivers.protocol import ProtocolSpec

PROTOCOLS: dict[str, ProtocolSpec] = {s.name: s for s in (modbus_config.SPEC, s7_config.SPEC)}

# the [plcs.X] table: one model per protocol, chosen by its ``protocol`` key
PlcConfig: Any = Annotated[Union[tuple(s.config for s in PROTOCOLS.values())],  # noqa: UP007
                           Field(discriminator="protocol")]


def spec(plc: Any) -> ProtocolSpec:
    """The protocol of a validated PLC table."""
    return PROTOCOLS[plc.protocol]
