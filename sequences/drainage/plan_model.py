"""What the pump planner works on and what it returns, shared by its two solvers.

Volumes in m3, flows in m3/h, powers in kW, prices in CNY/kWh, one value per step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PENALTY = 1e3            # CNY per m3 outside the band: dwarfs any energy price


@dataclass
class Room:
    """One pump room's plan inputs. Volumes in m3, flows in m3/h, powers in kW."""

    name: str
    volume0: float
    v_low: float                       # normal band, planner's limits
    v_high: float
    inflow: np.ndarray                 # forecast per step (own inflow, not relay)
    margin: np.ndarray                 # volume uncertainty per step (m3), widens the band
    flows: list[float]                 # marginal flow of the k-th running pump
    powers: list[float]                # marginal power of the k-th running pump
    available: int                     # pumps that can run (not faulted, in auto)
    running: int = 0                   # pumps running now
    last_change: str = "up"            # how the number of pumps last changed: up / down
    since_change_steps: int = 1000     # and how many steps ago (min run / rest carry over)
    max_on: int | None = None          # pumps at once (maximum-demand charge)
    max_kw: float | None = None
    max_discharge: float | None = None  # m3/h, e.g. water treatment
    min_run_steps: int = 1
    min_rest_steps: int = 1
    max_starts: int | None = None      # per slot over the horizon
    start_cost: float = 2.0            # CNY a start (wear, inrush): the DP prices starts
    into: str | None = None            # the room this one pumps into (relay)
    v_end: float | None = None         # end-of-horizon volume cap; default volume0


@dataclass
class RoomPlan:
    name: str
    pumps: np.ndarray                  # pumps on per step
    volume: np.ndarray                 # expected volume at the end of each step
    kwh: float
    cost: float
    outside_m3: float                  # band violation the plan could not avoid
    full: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # over, per step
    start_cost: float = 0.0            # the start price at which the starts cap held


@dataclass
class Plan:
    t0: float
    step_s: float
    prices: np.ndarray
    rooms: dict[str, RoomPlan]
    cost: float
    status: str
    solve_s: float
    bound: float | None = None         # no plan can cost less (an exact solver's dual bound)


def pumped(room: Room, pumps: np.ndarray) -> np.ndarray:
    """Flow out of a room (m3/h) for a number of pumps per step."""
    cum = np.concatenate([[0.0], np.cumsum(room.flows)])
    return cum[np.clip(pumps, 0, len(room.flows))]


def expected_volume(room: Room, plans: dict[str, RoomPlan], rooms: list[Room],
                    h: float) -> np.ndarray:
    inflow = room.inflow.astype(float).copy()
    for other in rooms:
        if other.into == room.name:
            inflow += pumped(other, plans[other.name].pumps)
    return room.volume0 + np.cumsum((inflow - pumped(room, plans[room.name].pumps)) * h)


MARGIN_CAP = 0.25        # of the band: the forecast's margin never squeezes it further;
                         # beyond that the hard level rule, not the plan, is the guard


def margins(room: Room) -> np.ndarray:
    """The room's volume margin per step, capped so a poor forecast (few or odd samples)
    cannot squeeze the band until the plan must pump through the peak."""
    return np.minimum(room.margin, MARGIN_CAP * (room.v_high - room.v_low))
