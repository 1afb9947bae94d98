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
