"""``template.yaml`` rendered for the parameter sets that the scanner and cfn-lint check.

Scanners read an ``Fn::If`` as "the property is set" whichever branch CloudFormation would take
(checkov passes a queue whose ``KmsMasterKeyId`` is ``!If [HasKmsKey, key, NoValue]`` even when
no key is given), so ``make scan`` never scans ``template.yaml`` as written. It scans what would be
deployed, once per parameter set (:data:`VARIANTS`):

* ``default`` — ``KmsKeyArn`` empty (AWS-managed encryption), every other parameter at its default;
* ``kms`` — ``KmsKeyArn`` set to an example key ARN. In this variant the template's skips of the
  customer-managed-key checks (:data:`KMS_CHECKS`) are removed: each of those skips says "with
  KmsKeyArn set it uses that key", and the scanner must then find it so on its own.

``python -m tests.template.variants OUT_DIR`` writes ``OUT_DIR/<variant>.yaml`` for each.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.template.cfn import TEMPLATE_PATH, load_template, render

EXAMPLE_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "kms": {"KmsKeyArn": EXAMPLE_KEY_ARN},
}
# checkov checks that a customer-managed key satisfies (SQS, DynamoDB, Secrets Manager, log groups,
# Lambda environment). Skipped with a reason in template.yaml for the default variant only.
KMS_CHECKS = frozenset({"CKV_AWS_27", "CKV_AWS_119", "CKV_AWS_149", "CKV_AWS_158", "CKV_AWS_173"})


def checkov_skips(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``Metadata.checkov.skip`` entries of one resource (``[]`` when it has none)."""
    skips = ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip") or []
    return list(skips)


def without_skips(template: dict[str, Any], check_ids: frozenset[str]) -> dict[str, Any]:
    """A copy of ``template`` whose resources no longer skip any of ``check_ids``."""
    stripped = copy.deepcopy(template)
    for resource in (stripped.get("Resources") or {}).values():
        checkov = (resource.get("Metadata") or {}).get("checkov")
        if checkov and "skip" in checkov:
            checkov["skip"] = [s for s in checkov["skip"] if s.get("id") not in check_ids]
    return stripped


def variant(name: str, template: dict[str, Any] | None = None) -> dict[str, Any]:
    """The named variant of ``template`` (default: ``template.yaml``), as the scanner gets it."""
    rendered = render(template or load_template(TEMPLATE_PATH), VARIANTS[name])
    return without_skips(rendered, KMS_CHECKS) if VARIANTS[name].get("KmsKeyArn") else rendered


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.template.variants OUT_DIR", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    template = load_template(TEMPLATE_PATH)
    for name in VARIANTS:
        path = out / f"{name}.yaml"
        path.write_text(
            yaml.safe_dump(variant(name, template), sort_keys=False, width=100), encoding="utf-8"
        )
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
