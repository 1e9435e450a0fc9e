"""What the relays measure between faults: the network's load flow for the present
switching state (cached by ``network.py``) with each load's slow random variation put on
top, by the share of load behind each breaker (a feeder's current follows its loads, the
incomer's the sum), the frequency wandering with the load, and plausible small figures
for voltage unbalance and distortion per bus; while a fault stays fed, its short circuit.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fixedsite.hil.power.network import A, Fault, Network, State
from fixedsite.sequences.power.config import PowerSystem

if TYPE_CHECKING:
    from fixedsite.hil.power.plant import Bay

NOISE_TAU_S = 120.0          # loads vary on this time scale
FREQ_SIGMA_HZ = 0.01         # frequency wander per % of load noise
THD_PCT = (1.2, 2.4)         # a bus's voltage distortion at its loads' nominal, %
UNBALANCE_PCT = (0.3, 0.9)   # a bus's voltage unbalance, %


@dataclass(frozen=True)
class Meas:
    """What a relay measures at a scan."""

    i: tuple[float, float, float] = (0.0, 0.0, 0.0)
    u_kv: tuple[float, float, float] = (0.0, 0.0, 0.0)     # uab ubc uca
    p_kw: float = 0.0
    q_kvar: float = 0.0
    pf: float = 0.0
    freq_hz: float = 0.0
    thd_pct: float = 0.0
    unbalance_pct: float = 0.0


class Meters:
    """The slow variations of one power system and what they make its relays read."""

    def __init__(self, system: PowerSystem, rng: random.Random, noise_pct: float) -> None:
        self.system, self.rng, self.noise_pct = system, rng, noise_pct
        nw = system.network
        self.load_x = {ld: 0.0 for ld in nw.loads}
        self.freq_x = 0.0
        self.bus_thd = {b: rng.uniform(*THD_PCT) for b in nw.buses}
        self.bus_unb = {b: rng.uniform(*UNBALANCE_PCT) for b in nw.buses}

    def step(self, dt: float) -> None:
        """Each load's deviation and the frequency's: first-order random walks (standard
        deviation ``noise_pct`` % of the load), none at all with no noise."""
        a = math.exp(-dt / NOISE_TAU_S)
        s = math.sqrt(max(0.0, 1 - a * a))
        sigma = self.noise_pct / 100.0
        for ld in self.load_x:
            self.load_x[ld] = a * self.load_x[ld] + sigma * s * self.rng.gauss(0, 1)
        self.freq_x = a * self.freq_x + FREQ_SIGMA_HZ * self.noise_pct * s * \
            self.rng.gauss(0, 1)

    def read(self, net: Network, state: State, bays: Mapping[str, Bay],
             fed: list[Fault]) -> dict[str, Meas]:
        """Every breaker's relay reading in ``state``."""
        feed = net.feed(state)
        flow = net.flow(state)
        nw = self.system.network
        sc = net.short_circuit(state, fed[0]) if fed else None
        share: dict[str, tuple[float, float]] = {}
        for ld, spec in nw.loads.items():
            for b in feed.path.get(ld, ()):
                w, x = share.get(b, (0.0, 0.0))
                share[b] = (w + spec.p_kw, x + spec.p_kw * (1 + self.load_x[ld]))
        freq = nw.frequency_hz + self.freq_x
        out: dict[str, Meas] = {}
        for b, bay in bays.items():
            if bay.bus not in feed.energised:
                out[b] = Meas()
                continue
            ua = flow.voltages.get(bay.bus, 0j)
            w, x = share.get(b, (0.0, 0.0))
            k = x / w if w > 0 else 1.0
            unb = self.bus_unb.get(bay.bus, 0.5)
            if sc is not None:
                ratios = sc.voltages.get(bay.bus, (1, A * A, A))
                phases_u = [ua * q for q in ratios]
                phases_i = list(sc.breakers.get(b, (0j, 0j, 0j)))
                s = sum(u * i.conjugate() for u, i in zip(phases_u, phases_i, strict=True))
                p, q = s.real, s.imag
                u_ll = (abs(phases_u[0] - phases_u[1]), abs(phases_u[1] - phases_u[2]),
                        abs(phases_u[2] - phases_u[0]))
                amps = (abs(phases_i[0]), abs(phases_i[1]), abs(phases_i[2]))
            else:
                f = flow.breakers.get(b)
                i0 = f.i_a * k if f else 0.0
                p, q = (f.p_kw * k, f.q_kvar * k) if f else (0.0, 0.0)
                u = abs(ua) * math.sqrt(3)
                u_ll = (u * (1 + unb / 200), u * (1 - unb / 400), u * (1 - unb / 400))
                amps = (i0 * (1 - 0.003 * unb), i0 * (1 + 0.006 * unb), i0 * (1 - 0.003 * unb))
            smag = math.hypot(p, q)
            out[b] = Meas(amps, u_ll, p, q, abs(p) / smag if smag > 1e-6 else 1.0, freq,
                          self.bus_thd.get(bay.bus, 1.5) * (0.5 + 0.5 * k), unb)
        return out
