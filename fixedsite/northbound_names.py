"""What a foreign OPC UA client reads about each node: names, descriptions, enumerations.

* DisplayName of the site, system and equipment objects: the configured name in the
  site's language (``[site] lang``: zh_CN takes ``name_zh``, then ``name``, then the id;
  en takes ``name``, then the id). Description: what it is, with both names.
* DisplayName of a variable: its signal name (``flow``); Description: the signal's
  description (``fixedsite/equipment.py``, or the one the publishing module gave).
* Enumerations as ``MultiStateDiscreteType`` variables (DataType UInt32) whose
  ``EnumStrings`` property (LocalizedText[], locale en) gives the word of each value,
  index == value, so a foreign client shows words:

  - a pump's ``mode`` (the PLC's register): 0 not set, 1 remote-manual, 2 remote-auto
    (LOCAL at the field panel is the separate ``local`` signal);
  - a pump's ``state`` (the sequence): ``STATE_WORDS`` below, ``unknown`` last, served
    while the state has never been published (with the tag's Bad status).

  The words stay English on the wire like every value and reason (``fixedsite.texts``
  turns them into Chinese for a person).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asyncua import ua

from fixedsite.config import SiteConfig
from fixedsite.sequences.drainage.equipment import MODE_REMOTE_AUTO, MODE_REMOTE_MANUAL, TYPES
from fixedsite.sequences.drainage.pump import STATES

LANGS = ("zh_CN", "en")
LOCALE = {"zh_CN": "zh-CN", "en": "en"}
MODE_WORDS = ["not set", "remote-manual", "remote-auto"]
assert MODE_WORDS[MODE_REMOTE_MANUAL] == "remote-manual"
assert MODE_WORDS[MODE_REMOTE_AUTO] == "remote-auto"
STATE_WORDS = [*STATES, *(["unknown"] if "unknown" not in STATES else [])]
MODE_TEXT = ("remote mode held in the PLC's register, as a number: 0 not set (no command "
             "is accepted until a mode is set), 1 remote-manual, 2 remote-auto; see "
             "EnumStrings. LOCAL at the field panel is the separate signal 'local'")
STATE_TEXT = ("the pump's start/stop sequence, as a number: "
              + ", ".join(f"{i} {w}" for i, w in enumerate(STATE_WORDS))
              + "; see EnumStrings")
# folders the controller adds beside the configured equipment
BUILT_IN = {"comm": "communication with each PLC", "controller": "the controller's own health",
            "control": "level control", "plan": "peak-valley plan"}


@dataclass(frozen=True)
class Enum:
    """A tag served as a MultiStateDiscreteType: its words, index == value."""

    words: list[str]
    description: str

    def strings(self) -> ua.Variant:
        return ua.Variant([ua.LocalizedText(w, "en") for w in self.words],
                          ua.VariantType.LocalizedText)

    def code(self, value: Any) -> int | None:
        """The value's code, None if it has none (then it is not served as a reading)."""
        if isinstance(value, str):
            return self.words.index(value) if value in self.words else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if value != int(value) or not 0 <= value < 2 ** 32:
            return None
        return int(value)

    def unknown(self) -> int:
        return self.words.index("unknown") if "unknown" in self.words else 0


MODE = Enum(MODE_WORDS, MODE_TEXT)
STATE = Enum(STATE_WORDS, STATE_TEXT)


def enums(cfg: SiteConfig) -> dict[str, Enum]:
    """Tag path -> its enumeration: every pump's mode and state."""
    out: dict[str, Enum] = {}
    for s, system in cfg.systems.items():
        for e, eq in system.equipment.items():
            if eq.type == "pump":
                out[f"{s}.{e}.mode"] = MODE
                out[f"{s}.{e}.state"] = STATE
    return out


def pick(name: str, name_zh: str, ident: str, lang: str) -> str:
    """A configured name in ``lang``: zh_CN falls back to the English, then the id."""
    if lang == "zh_CN" and name_zh:
        return name_zh
    return name or ident


class Names:
    """The configured names of the site, its systems and equipment, by id."""

    def __init__(self, cfg: SiteConfig) -> None:
        self.cfg = cfg
        # id -> (English name, Chinese name, what it is)
        self.known: dict[str, tuple[str, str, str]] = {
            "site": (cfg.site.name, cfg.site.name_zh, "site")}
        for s, system in cfg.systems.items():
            self.known[s] = (system.name, system.name_zh, f"{system.kind} system")
            for e, eq in system.equipment.items():
                self.known[f"{s}.{e}"] = (eq.name, eq.name_zh, eq.type.replace("_", " "))

    def name(self, ident: str, lang: str) -> str:
        en, zh, _ = self.known.get(ident, ("", "", ""))
        return pick(en, zh, ident, lang)

    def ids(self) -> list[str]:
        return list(self.known)

    def display(self, ident: str) -> ua.LocalizedText:
        lang = self.cfg.site.lang
        return ua.LocalizedText(self.name(ident, lang), LOCALE[lang])

    def description(self, ident: str) -> ua.LocalizedText:
        """What the object is, with its names in both languages (English text)."""
        if ident in self.known:
            en, zh, kind = self.known[ident]
            names = " / ".join(n for n in (en, zh) if n)
            return ua.LocalizedText(f"{kind} {ident}" + (f": {names}" if names else ""), "en")
        last = ident.rsplit(".", 1)[-1]
        what = BUILT_IN.get(last) or BUILT_IN.get(ident.split(".", 1)[0], "")
        return ua.LocalizedText(f"{ident}: {what}" if what else ident, "en")


def signal_description(cfg: SiteConfig, path: str, given: str) -> str:
    """A variable's description: the one its tag carries, else the equipment type's."""
    if given:
        return given
    system, equipment, signal = path.split(".", 2)
    sys_cfg = cfg.systems.get(system)
    eq = sys_cfg.equipment.get(equipment) if sys_cfg is not None else None
    if eq is not None:
        spec = TYPES.get(eq.type, {}).get(signal)
        if spec is not None:
            return spec.description
    return ""

def object_item(node: ua.NodeId, parent: ua.NodeId, bname: ua.QualifiedName,
            display: ua.LocalizedText, description: ua.LocalizedText) -> ua.AddNodesItem:
    attrs = ua.ObjectAttributes(DisplayName=display, Description=description, EventNotifier=0)
    return ua.AddNodesItem(RequestedNewNodeId=node, BrowseName=bname,
                           NodeClass=ua.NodeClass.Object, ParentNodeId=parent,
                           ReferenceTypeId=ua.NodeId(ua.ObjectIds.Organizes),
                           TypeDefinition=ua.NodeId(ua.ObjectIds.BaseObjectType),
                           NodeAttributes=attrs)


def variable_item(node: ua.NodeId, parent: ua.NodeId, bname: ua.QualifiedName, value: ua.Variant,
              description: str, enum: bool) -> ua.AddNodesItem:
    """A read-only variable: its DataType from its value's type for life; an enumeration
    is a MultiStateDiscreteType (UInt32)."""
    attrs = ua.VariableAttributes(
        DisplayName=ua.LocalizedText(bname.Name), Value=value,
        Description=ua.LocalizedText(description or bname.Name, "en"),
        DataType=ua.NodeId(value.VariantType.value, 0), ValueRank=ua.ValueRank.Scalar,
        AccessLevel=ua.AccessLevel.CurrentRead.mask,
        UserAccessLevel=ua.AccessLevel.CurrentRead.mask, WriteMask=0, UserWriteMask=0,
        Historizing=False)
    typedef = ua.ObjectIds.MultiStateDiscreteType if enum else ua.ObjectIds.BaseDataVariableType
    return ua.AddNodesItem(RequestedNewNodeId=node, BrowseName=bname,
                           NodeClass=ua.NodeClass.Variable, ParentNodeId=parent,
                           ReferenceTypeId=ua.NodeId(ua.ObjectIds.HasComponent),
                           TypeDefinition=ua.NodeId(typedef), NodeAttributes=attrs)


def property_item(node: ua.NodeId, parent: ua.NodeId, name: str, value: ua.Variant,
              description: str) -> ua.AddNodesItem:
    array = isinstance(value.Value, list)
    dtype = {"EngineeringUnits": ua.ObjectIds.EUInformation,
             "EURange": ua.ObjectIds.Range}.get(name, value.VariantType.value)
    attrs = ua.VariableAttributes(
        DisplayName=ua.LocalizedText(name), Description=ua.LocalizedText(description, "en"),
        Value=value, DataType=ua.NodeId(dtype, 0),
        ValueRank=ua.ValueRank.OneDimension if array else ua.ValueRank.Scalar,
        ArrayDimensions=[0] if array else None,
        AccessLevel=ua.AccessLevel.CurrentRead.mask,
        UserAccessLevel=ua.AccessLevel.CurrentRead.mask, WriteMask=0, UserWriteMask=0)
    return ua.AddNodesItem(RequestedNewNodeId=node, BrowseName=ua.QualifiedName(name, 0),
                           NodeClass=ua.NodeClass.Variable, ParentNodeId=parent,
                           ReferenceTypeId=ua.NodeId(ua.ObjectIds.HasProperty),
                           TypeDefinition=ua.NodeId(ua.ObjectIds.PropertyType),
                           NodeAttributes=attrs)
