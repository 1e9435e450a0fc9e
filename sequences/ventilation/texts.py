"""Ventilation's texts for people, English -> Chinese (the registry's ``texts``; see
fixedsite/texts.py for how the console reads them back)."""

from __future__ import annotations

# placeholders that hold ids: never translated
IDS = frozenset({"fan", "door", "face"})

TEXTS: dict[str, str] = {
    # --- built-in alarms -------------------------------------------------------------------
    "{name} tripped": "{name} 跳闸",
    "{name}: shaft airflow below {pct:.0f} % of nominal":
        "{name}：风井风量低于额定的 {pct:.0f} %",
    "{name}: door fault": "{name}：风门故障",
    "{name}: controller heartbeat lost, PLC holds the fans":
        "{name}：控制器心跳丢失，PLC 保持风机现状",
}
