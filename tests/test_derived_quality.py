"""A figure the controller derives (a pump's state, the level control's demand, the plan)
is no better than what it was derived from: on a PLC link loss the state of a running
pump must not read `running`, Good (issue 10, item 1). HIL on real Modbus TCP."""

from __future__ import annotations

from collections.abc import Callable

from conftest import Rig

from fixedsite.tags import COMM_FAIL, Quality


async def test_derived_tags_carry_the_worst_quality_of_their_inputs(
        rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(scale=300.0, plan=True, initial_level_m="1.9")
    await rig.site.start()
    ctl = await rig.start_controller()
    state, reason = ctl.store["drainage.pump1.state"], ctl.store["drainage.pump1.fault_reason"]
    demand = ctl.store["drainage.control.demand"]
    plan = ctl.store["drainage.plan.pumps"]
    await rig.until(lambda: any(p.state == "running" for p in ctl.sequences.values())
                    and plan.quality is Quality.GOOD, 3600, "a pump running and a plan")
    running = next(p for p in ctl.sequences.values() if p.state == "running")
    await rig.site.unit("drainage").server.stop()
    derived = [ctl.store[f"{running.path}.state"], state, reason, demand, plan,
               ctl.store["drainage.sump.level"]]
    run_state = ctl.store[f"{running.path}.state"]
    # missed polls first make the inputs uncertain (stale); the link is declared down
    # (and its inputs bad) only after its timeout, so wait for that, not the first change
    # and a derived tag follows its inputs at its own scan (stale, then comm_fail)
    await rig.until(lambda: all(t.quality is not Quality.GOOD for t in derived)
                    and run_state.reason == COMM_FAIL and demand.reason == COMM_FAIL,
                    1800, "every derived tag to leave Good, the pump's state and demand "
                    "comm_fail")
    assert run_state.value == "running"                 # the last value, kept
    assert run_state.quality is Quality.BAD and run_state.reason == COMM_FAIL
    assert demand.quality is Quality.BAD and demand.reason == COMM_FAIL
    assert plan.quality is Quality.UNCERTAIN             # an old plan, not a wrong one
    await rig.site.unit("drainage").server.start()
    await rig.until(lambda: all(t.quality is Quality.GOOD for t in derived), 300,
                    "every derived tag Good again once the PLC answers")
    assert ctl.store[f"{running.path}.state"].value == "running"
