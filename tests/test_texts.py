"""The text catalogue: every text the code composes has its Chinese, and a Chinese console
reads each text back to the template that made it (no two templates confused)."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from fixedsite.alarms.handler import ACTION_DONE
from fixedsite.alarms.model import LIMIT_TEXT
from fixedsite.texts import catalogue, say, translate

CATALOGUE = catalogue()            # the core's texts and every installed system's

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [p for d in ("fixedsite", "drivers", "sequences", "hil")
           for p in (ROOT / d).rglob("*.py")]


def _fields(template: str) -> list[str]:
    return [f for _l, f, _s, _c in string.Formatter().parse(template) if f is not None]


def _said() -> list[tuple[str, int, str]]:
    """Every literal template handed to ``say`` in the code, with where it is."""
    out = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "say" and \
                    node.args and isinstance(node.args[0], ast.Constant):
                out.append((str(path.relative_to(ROOT)), node.lineno, node.args[0].value))
    return out


def test_every_text_the_code_says_is_in_the_catalogue() -> None:
    said = _said()
    assert len(said) > 60                      # the scan found the code's texts
    missing = [f"{p}:{n}: {t!r}" for p, n, t in said if t not in CATALOGUE]
    missing += [t for t in (*LIMIT_TEXT.values(), *ACTION_DONE.values()) if t not in CATALOGUE]
    assert missing == []


@pytest.mark.parametrize("template", sorted(CATALOGUE))
def test_chinese_template_has_the_same_fields_and_no_english_words(template: str) -> None:
    zh = CATALOGUE[template]
    assert sorted(_fields(zh)) == sorted(_fields(template))
    words = re.findall(r"[A-Za-z]{3,}", re.sub(r"\{[^}]*\}", "", zh))
    assert [w for w in words if w not in ("PLC", "min", "MPa", "ppm")] == []   # units


@pytest.mark.parametrize("template", sorted(t for t in CATALOGUE if "{" in t))
def test_each_text_reads_back_to_the_template_that_made_it(template: str) -> None:
    """Arguments that look like what the code passes (an id, a number): the Chinese is the
    Chinese template with the same arguments, so no other template took the text."""
    args = {f: f"x{i}_{f}" for i, f in enumerate(_fields(template))}
    plain = re.sub(r"\{(\w+)(?::[^}]*)?\}", r"{\1}", template)     # ids, not numbers
    text = plain.format(**args)
    zh = re.sub(r"\{(\w+)(?::[^}]*)?\}", r"{\1}", CATALOGUE[template]).format(**args)
    assert translate(text, "zh_CN") == zh


def test_nested_texts_names_and_quoted_words_are_translated() -> None:
    reason = say("{pump} is faulted ({why}); reset it first", pump="pump2",
                 why=say("PLC trip {code}: {cause}", code=1,
                         cause=say("motor overload relay tripped")))
    assert translate(reason, "zh_CN") == "pump2 故障（PLC 跳闸 1：电机过载继电器动作）；请先复位"
    status = say("demand {n} ({mode})", n=2, mode=say("plan")) + "; " + say(
        "start held: {why}", why=say("{pump} rests until {hhmm}", pump="pump3", hhmm="14:30"))
    assert translate(status, "zh_CN") == "需求 2 台（错峰计划）；启动暂缓：pump3 休息至 14:30"
    alarm = say("{name} fault", name="Main pump 1")
    assert translate(alarm, "zh_CN", {"Main pump 1": "1号主排水泵"}) == "1号主排水泵 故障"
    assert translate(say("{pump} takes no {action} command", pump="pump1", action="'start'"),
                     "zh_CN") == "pump1 不接受 启动 命令"


def test_english_and_unknown_texts_come_back_as_they_are() -> None:
    text = say("{pump} is still stopping", pump="pump1")
    assert translate(text, "en") == text
    assert translate("something nobody wrote through say", "zh_CN") == \
        "something nobody wrote through say"
    assert translate("", "zh_CN") == ""


def test_ids_stay_ids_and_a_status_of_three_parts_reads_whole() -> None:
    """A user named like a role is still that user; a plan status with a band that
    cannot hold is Chinese in every part (both were English or wrong before)."""
    refusal = say("{user} ({role}) may not {action}: it needs the {need} role",
                  user="operator", role="operator", action="set_mode", need="engineer")
    assert translate(refusal, "zh_CN") == "operator（操作员）无权设置模式：需要工程师角色"
    status = "; ".join([say("optimal (DP, 0.5 m3 grid)"), say("{n} pumps available", n=3),
                        say("band cannot hold: {m3:.0f} m3 over", m3=12.0)])
    assert translate(status, "zh_CN") == \
        "最优（动态规划，0.5 m3 网格）；3 台泵可用；水位带无法保持：超出 12 m3"
    step = say("{step} not complete within {limit:.0f} s: {why}", step="opening valve",
               limit=90, why=say("valve open limit not reached"))
    assert step == "opening valve not complete within 90 s: valve open limit not reached"
    assert translate(step, "zh_CN") == "开阀未在 90 s 内完成：阀门未到全开限位"
