"""How long the power supervisor waits to hear from its relays, on the project clock.

The waits of this system (a disturbance quiet, a disturbance record awaited, a link's
first heartbeat, a settings group confirmed, the loads shown fed after restoration) were
written for a relay that answers at once. A relay is heard only once per poll, though,
and a poll takes wall time whatever the clock's scale: at x60 (the demo) a 1 s quiet is
17 ms of wall time, less than one read of one gateway, and a disturbance closed with one
relay's events, records were given up before they were read, links were called lost at
start. So every wait is at least a number of poll rounds of the system's slowest gateway,
a round being its poll period or, on an accelerated clock, the wall-time floor under a
peer's silence (``Clock.silence_timeout``), whichever is longer. On a manual clock (tests)
a round is the poll period alone. A configured step timeout shorter than two polls is
refused by the config check (``checks.py``), not raised here in silence.
"""

from __future__ import annotations

from dataclasses import dataclass

from fixedsite.clock import MIN_REAL_SILENCE_S, Clock
from fixedsite.config import SiteConfig
from fixedsite.sequences.power.config import PowerSystem


@dataclass(frozen=True)
class Waits:
    round_s: float = 0.0        # one poll round of the slowest gateway, project-clock s

    def at_least(self, sim_s: float, rounds: float) -> float:
        """``sim_s``, or ``rounds`` polls if those take longer."""
        return max(sim_s, rounds * self.round_s)

    def step(self, system: PowerSystem) -> float:
        """A switching step to its feedback: the configured time, or two polls."""
        return self.at_least(system.restoration.step_timeout_s, 2)


def slowest_poll(cfg: SiteConfig, system: PowerSystem) -> float:
    """The longest poll period (simulated s) of the system's gateways."""
    plcs = {eq.plc for eq in system.equipment.values()}
    return max((cfg.plcs[p].poll_period_s for p in plcs if p in cfg.plcs), default=0.0)


def waits(cfg: SiteConfig, system: PowerSystem, clock: Clock) -> Waits:
    """The system's waits on the clock it runs on."""
    return Waits(clock.silence_timeout(slowest_poll(cfg, system)))


def config_waits(cfg: SiteConfig, system: PowerSystem) -> Waits:
    """The waits for what is fixed before a clock exists (an alarm's delay): the run's
    clock is a scaled clock at ``cfg.clock.scale`` (the command line's ``--scale`` is
    written there, ``cli._clock``)."""
    return Waits(max(slowest_poll(cfg, system), MIN_REAL_SILENCE_S * cfg.clock.scale))
