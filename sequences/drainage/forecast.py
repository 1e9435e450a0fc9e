"""Inflow to a sump over the next day, with an honest band, from what was measured.

Inflow is not measured by any instrument: it is the sump's volume change plus what the
pumps took out, averaged over a planning step (``InflowMeter``). The forecast is a
level learnt every step times a shape by step of the day learnt over days (water in a
mine follows shifts: drilling water, washing, the day's rain reaching the workings), so
a surge that has begun is carried forward within the hour and a quiet day is believed.
The band comes from the spread of past relative errors per step of the day; the margin on
the sump's *volume* grows as errors add up, faster when they are correlated from step to
step (they are: a surge lasts), over the hours before re-planning has seen them.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass
class Forecast:
    inflow: np.ndarray           # m3/h per step, central
    low: np.ndarray              # m3/h per step, lower edge of the band
    high: np.ndarray             # m3/h per step, upper edge
    margin: np.ndarray           # m3: how far the volume may stray by the end of each step


class InflowForecast:
    """Holt-Winters without trend, multiplicative: a level learnt every step (so a week of
    wrong history is outgrown in hours) times a shape by step of the day learnt once a day
    per step against the day's mean; the last step's surprise carried forward, fading; a
    band from the relative errors per step of the day."""

    def __init__(self, step_s: float = 900.0, prior_m3h: float = 0.0, beta: float = 0.15,
                 gamma: float = 0.25, fade_h: float = 1.5, z: float = 1.64,
                 prior_cv: float = 0.2, settle_h: float = 2.0) -> None:
        self.settle_h = settle_h
        self.step_s, self.beta, self.gamma, self.fade_h, self.z = step_s, beta, gamma, \
            fade_h, z
        self.bins = max(1, int(round(86400.0 / step_s)))
        self.shape = np.ones(self.bins)
        self.rel_var = np.full(self.bins, np.nan)        # (error / forecast)^2, smoothed
        self.level: float | None = None  # fast: where the inflow stands now, deseasoned
        self.day_mean = 0.0                # slow: the last day's mean
        self._recent: deque[float] = deque(maxlen=4)   # last steps, deseasoned
        self._run, self._sign = 0, 0.0
        self.prior, self.prior_cv = prior_m3h, prior_cv
        self.ratio = 1.0             # last measured / its forecast
        self.rho = 0.5               # step-to-step correlation of errors
        self._last_err: float | None = None
        self.samples = 0

    def bin(self, t: float) -> int:
        lt = time.localtime(t)
        return int((lt.tm_hour * 3600 + lt.tm_min * 60 + lt.tm_sec) // self.step_s) \
            % self.bins

    def expected(self, b: int) -> float:
        return (self.prior if self.level is None else self.level) * float(self.shape[b])

    def update(self, t: float, inflow: float) -> None:
        """One measured step (``t``: its start)."""
        b = self.bin(t)
        if self.level is None:
            self.level = self.day_mean = max(inflow, 1.0) / self.shape[b]
        guess = max(self.expected(b), 1.0)
        err = (inflow - guess) / guess
        self._recent.append(inflow / self.shape[b])
        # a new regime (a week of wrong history, a lasting surge): several big errors of
        # one sign in a row move the level and the day's mean at once; the shape, which
        # would otherwise soak the jump up as if it were a daily pattern, keeps still
        big = abs(err) > 0.5
        self._run = self._run + 1 if big and (err > 0) == (self._sign > 0) else int(big)
        self._sign = err
        if self._run >= len(self._recent):
            self.level = self.day_mean = float(np.mean(self._recent))
        else:
            # the shape against the day's mean, not against the fast level (which would
            # follow the daily swing itself and leave the shape flat)
            self.day_mean += (inflow - self.day_mean) / self.bins
            self.shape[b] = self.gamma * inflow / max(self.day_mean, 1e-3) \
                + (1 - self.gamma) * self.shape[b]
            self.shape /= self.shape.mean()
            self.level = self.beta * inflow / self.shape[b] + (1 - self.beta) * self.level
        self.level = max(self.level, 1e-3)
        old = self.rel_var[b]
        self.rel_var[b] = err * err if np.isnan(old) else 0.8 * old + 0.2 * err * err
        if self._last_err is not None and self.samples > 4:
            scale = max(float(np.nanmean(self.rel_var)), 1e-6)
            corr = float(np.clip(err * self._last_err / scale, -1.0, 1.0))
            self.rho = float(np.clip(0.95 * self.rho + 0.05 * corr, 0.0, 0.9))
        self._last_err = err
        self.ratio = float(np.clip(inflow / guess, 0.3, 3.0))
        self.samples += 1

    def forecast(self, t0: float, steps: int) -> Forecast:
        h = self.step_s / 3600.0
        bins = [self.bin(t0 + i * self.step_s) for i in range(steps)]
        base = np.array([self.expected(b) for b in bins])
        lead_h = (np.arange(steps) + 0.5) * h
        inflow = base * (1.0 + (self.ratio - 1.0) * self.beta
                         * np.exp(-lead_h / self.fade_h))
        known = self.rel_var[~np.isnan(self.rel_var)]
        fallback = float(known.mean()) if known.size else self.prior_cv ** 2
        rel = np.array([fallback if np.isnan(self.rel_var[b]) else self.rel_var[b]
                        for b in bins])
        rel = np.maximum(rel, 0.02 ** 2)                  # never a perfectly sure forecast
        sigma = inflow * np.sqrt(rel)
        spread = self.z * sigma
        inflate = np.sqrt((1 + self.rho) / (1 - self.rho))
        # errors pile up until re-planning has seen them: every step re-plans, so the
        # volume margin grows over ``settle_h`` and then holds (beyond it the plan is
        # made again many times before it is carried out)
        var_cum = np.cumsum(sigma ** 2)
        k = max(1, int(round(self.settle_h / h)))
        capped = np.array([var_cum[i] - (var_cum[i - k] if i >= k else 0.0)
                           for i in range(steps)])
        margin = self.z * h * np.sqrt(capped) * inflate
        return Forecast(inflow, np.maximum(0.0, inflow - spread), inflow + spread, margin)


class InflowMeter:
    """Inflow per step from the sump volume and the pumps' flows, fed once a scan."""

    def __init__(self, step_s: float) -> None:
        self.step_s = step_s
        self.start: float | None = None
        self.v0 = 0.0
        self.pumped_m3 = 0.0
        self.last_t: float | None = None
        self.last_q = 0.0

    def reset(self) -> None:
        """Drop the step being metered: an input of it was not known."""
        self.start = None

    def feed(self, t: float, volume: float, pumped_m3h: float) -> tuple[float, float] | None:
        """Returns (step start, inflow m3/h) when a step completes, else None."""
        if self.start is None:
            self.start = t - (t % self.step_s)
            self.v0, self.pumped_m3, self.last_t, self.last_q = volume, 0.0, t, pumped_m3h
            return None
        assert self.last_t is not None
        self.pumped_m3 += self.last_q * (t - self.last_t) / 3600.0
        self.last_t, self.last_q = t, pumped_m3h
        if t < self.start + self.step_s:
            return None
        span = t - self.start
        inflow = ((volume - self.v0) + self.pumped_m3) / (span / 3600.0)
        done = (self.start, max(0.0, inflow))
        self.start = t - (t % self.step_s)
        self.v0, self.pumped_m3 = volume, 0.0
        return done


def inflows_from_samples(volume: list[tuple[float, float]],
                         flows: Iterable[list[tuple[float, float]]], t0: float, t1: float,
                         step_s: float) -> list[tuple[float, float]]:
    """(step start, inflow m3/h) per whole step in [t0, t1) from stored samples (stored on
    change: a value holds until the next sample)."""
    start = t0 - t0 % step_s
    edges = start + step_s * np.arange(int((t1 - start) / step_s + 1e-6) + 1)
    if len(volume) < 2 or len(edges) < 2:
        return []
    vt, vv = np.array(volume).T
    v_at = np.interp(edges, vt, vv)
    out_m3 = np.zeros(len(edges) - 1)
    for series in flows:
        if not series:
            continue
        ft, fq = np.array(series).T
        fine = np.arange(edges[0], edges[-1], 60.0)        # minute grid, held values
        idx = np.searchsorted(ft, fine, side="right") - 1
        q = np.where(idx >= 0, fq[np.clip(idx, 0, None)], 0.0)
        per_step = np.add.reduceat(q, np.searchsorted(fine, edges[:-1])) / 60.0
        out_m3 += per_step[:len(out_m3)]
    h = step_s / 3600.0
    inflow = (np.diff(v_at) + out_m3) / h
    valid = (edges[:-1] >= vt[0]) & (edges[1:] <= vt[-1])
    return [(float(e), float(max(0.0, q))) for e, q, ok in zip(edges[:-1], inflow, valid,
                                                                 strict=True) if ok]
