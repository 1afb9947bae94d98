"""Read a CloudFormation / SAM template as plain data.

``load_template(path)`` parses YAML that uses CloudFormation's short tags (``!Sub``, ``!Ref``,
``!GetAtt``, ``!If``, ...) and returns their long forms (``{"Fn::Sub": ...}``, ``{"Ref": ...}``,
``{"Fn::GetAtt": [logical_id, attribute]}``), the same shape CloudFormation itself works with, so
tests can walk the template without knowing which spelling the author used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"

# Tags whose long form is not "Fn::<Tag>".
_SPECIAL = {"Ref": "Ref", "Condition": "Condition"}


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that also understands CloudFormation's short intrinsic-function tags."""


def _plain(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise yaml.constructor.ConstructorError(
        None, None, f"unexpected node {node!r}", node.start_mark
    )


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value = _plain(loader, node)
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # `!GetAtt Queue.Arn` is `Fn::GetAtt: [Queue, Arn]` (attributes may contain dots).
        logical_id, _, attribute = value.partition(".")
        value = [logical_id, attribute]
    return {_SPECIAL.get(tag_suffix, f"Fn::{tag_suffix}"): value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: str | Path = TEMPLATE_PATH) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template file into plain dicts and lists (short tags expanded)."""
    with Path(path).open(encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise ValueError(f"{path} is not a CloudFormation template (no Resources mapping)")
    return data


# ---------------------------------------------------------------- rendering for one parameter set

_NO_VALUE = {"Ref": "AWS::NoValue"}


class _Dropped:
    """Marks a value that ``AWS::NoValue`` (or a false resource condition) removes."""


_DROPPED = _Dropped()


def render(template: dict[str, Any], parameters: dict[str, Any] | None = None) -> dict[str, Any]:  # noqa: C901 - one branch per CloudFormation construct rendered
    """The template as CloudFormation would deploy it for ``parameters`` (others: their defaults).

    Conditions are evaluated, every ``Fn::If`` is replaced by its chosen branch, ``AWS::NoValue``
    removes its key or list item, resources and outputs whose ``Condition`` is false are dropped,
    and the ``Conditions`` section goes. The given values become the parameters' defaults, so
    tools that read defaults (checkov, cfn-lint) see this parameter set. Other intrinsics stay.
    """
    declared = template.get("Parameters") or {}
    values = {name: spec.get("Default") for name, spec in declared.items()}
    unknown = set(parameters or {}) - set(declared)
    if unknown:
        raise KeyError(f"not parameters of the template: {sorted(unknown)}")
    values.update(parameters or {})
    conditions = template.get("Conditions") or {}

    def value(node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"Ref"}:
            if node["Ref"] not in values:
                raise ValueError(f"condition refers to {node['Ref']!r}, not a parameter")
            return values[node["Ref"]]
        if isinstance(node, dict) and set(node) == {"Condition"}:
            return condition(node["Condition"])
        if isinstance(node, dict) and len(node) == 1:
            return evaluate(node)
        return node

    def evaluate(node: Any) -> bool:
        (function, args), *_ = node.items()
        if function == "Fn::Equals":
            left, right = (value(a) for a in args)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not value(args[0])
        if function == "Fn::And":
            return all(value(a) for a in args)
        if function == "Fn::Or":
            return any(value(a) for a in args)
        if function == "Condition":
            return condition(args)
        raise ValueError(f"cannot evaluate {function} in a condition")

    def condition(name: str) -> bool:
        return bool(evaluate(conditions[name]))

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (walk(item) for item in node) if v is not _DROPPED]
        if not isinstance(node, dict):
            return node
        if node == _NO_VALUE:
            return _DROPPED
        if set(node) == {"Fn::If"}:
            name, yes, no = node["Fn::If"]
            return walk(yes if condition(name) else no)
        out = {k: walk(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not _DROPPED}

    rendered = {k: v for k, v in template.items() if k != "Conditions"}
    rendered["Parameters"] = {
        name: spec if values[name] is None else {**spec, "Default": values[name]}
        for name, spec in declared.items()
    }
    for section in ("Resources", "Outputs"):
        kept = {
            logical_id: {k: v for k, v in item.items() if k != "Condition"}
            for logical_id, item in (template.get(section) or {}).items()
            if "Condition" not in item or condition(item["Condition"])
        }
        if section in template:
            rendered[section] = walk(kept)
    for section in ("Globals", "Metadata"):
        if section in template:
            rendered[section] = walk(template[section])
    return rendered
