"""What a foreign OPC UA client reads about each node: names, descriptions, enumerations.

* DisplayName of the site, system and equipment objects: the configured name in the
  site's language (``[site] lang``: zh_CN takes ``name_zh``, then ``name``, then the id;
  en takes ``name``, then the id). Description: what it is, with both names.
* DisplayName of a variable: its signal name (``flow``); Description: the signal's
  description (``fixedsite/equipment.py``, or the one the publishing module gave).
* Enumerations as ``MultiStateDiscreteType`` variables (DataType UInt32) whose
  ``EnumStrings`` property (LocalizedText[], locale en) gives the word of each value,
  index == value, so a foreign client shows words. Each system declares its own per
  equipment type (``SystemSpec.enums``; a drainage pump's ``mode`` and ``state``); a
  sequence's state has ``unknown`` last, served while it has never been published (with
  the tag's Bad status).

  The words stay English on the wire like every value and reason (``fixedsite.texts``
  turns them into Chinese for a person).
"""

from __future__ import annotations

from asyncua import ua

from fixedsite import systems
from fixedsite.config import SiteConfig
from fixedsite.equipment import Enumeration

LANGS = ("zh_CN", "en")
LOCALE = {"zh_CN": "zh-CN", "en": "en"}
# folders the controller adds beside the configured equipment (a system adds its own:
# SystemSpec.folders)
BUILT_IN = {"comm": "communication with each PLC", "controller": "the controller's own health"}


def strings(enum: Enumeration) -> ua.Variant:
    """The EnumStrings property of an enumeration: its words, index == value."""
    return ua.Variant([ua.LocalizedText(w, "en") for w in enum.words],
                      ua.VariantType.LocalizedText)


def enums(cfg: SiteConfig) -> dict[str, Enumeration]:
    """Tag path -> its enumeration, as each system declares them per equipment type."""
    out: dict[str, Enumeration] = {}
    for s, system in cfg.systems.items():
        by_type = systems.get(system.kind).enums
        for e, eq in system.equipment.items():
            out |= {f"{s}.{e}.{sig}": en for sig, en in by_type.get(eq.type, {}).items()}
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
        self.kinds: dict[str, str] = {"site": "site"}    # a system's kind, an equipment's type
        for s, system in cfg.systems.items():
            self.known[s] = (system.name, system.name_zh, f"{system.kind} system")
            self.kinds[s] = system.kind
            for e, eq in system.equipment.items():
                self.known[f"{s}.{e}"] = (eq.name, eq.name_zh, eq.type.replace("_", " "))
                self.kinds[f"{s}.{e}"] = eq.type
            for ident, kind in systems.get(system.kind).objects(s, system).items():
                self.known.setdefault(ident, ("", "", kind.replace("_", " ")))
                self.kinds.setdefault(ident, kind)

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
        system = self.cfg.systems.get(ident.split(".", 1)[0])
        folders = systems.get(system.kind).folders if system is not None else {}
        what = folders.get(last) or BUILT_IN.get(last) or \
            BUILT_IN.get(ident.split(".", 1)[0], "")
        return ua.LocalizedText(f"{ident}: {what}" if what else ident, "en")


def signal_description(cfg: SiteConfig, path: str, given: str) -> str:
    """A variable's description: the one its tag carries, else the equipment type's."""
    if given:
        return given
    system, equipment, signal = path.split(".", 2)
    sys_cfg = cfg.systems.get(system)
    eq = sys_cfg.equipment.get(equipment) if sys_cfg is not None else None
    if eq is not None:
        spec = systems.get(sys_cfg.kind).equipment.get(eq.type, {}).get(signal)
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
