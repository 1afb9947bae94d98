"""The benchmark scaffolding (`python -m bench`) and the identity inputs it measures."""

import json
import random
import sys
import types
from pathlib import Path

import pytest

import bench.__main__ as runner
from bench import Figure, interleaved_rates, rates
from bench.bench_identity import generate_emails, generate_maids, generate_phones
from tiktok_connector.identity import Hasher, IdType, Rejected, Surface


def _provider(monkeypatch: pytest.MonkeyPatch, name: str, figures: object) -> None:
    module = types.ModuleType(name)
    module.figures = figures  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, name, module)


def test_runner_prints_a_table_and_writes_results(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[bool] = []

    def figures(quick: bool) -> list[Figure]:
        seen.append(quick)
        return [
            Figure("fake: rows", 150.0, "rows/s", ">= 100 rows/s", met=True, runs=[140.0, 150.0]),
            Figure("fake: ratio", 40.0, "rows/s", ">= 50%", baseline=100.0, ratio=0.4, met=False),
        ]

    _provider(monkeypatch, "fake_bench_provider", figures)
    monkeypatch.setattr(runner, "PROVIDERS", ["fake_bench_provider"])
    monkeypatch.setattr(runner, "_pin_to_one_core", lambda: "cpu0")
    out = tmp_path / "results.json"

    assert runner.main(["--quick", "--out", str(out)]) == 0
    assert seen == [True]
    table = capsys.readouterr().out
    assert "fake: rows" in table
    assert "40%" in table
    assert "NO" in table
    data = json.loads(out.read_text())
    assert data["quick"] is True
    assert [f["name"] for f in data["figures"]] == ["fake: rows", "fake: ratio"]
    assert data["figures"][0]["min"] == 140.0
    assert data["figures"][0]["max"] == 150.0
    # --strict turns an unmet target into a failing exit status
    assert runner.main(["--quick", "--strict", "--out", str(out)]) == 1


def test_a_broken_provider_does_not_hide_the_others(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken(quick: bool) -> list[Figure]:
        raise RuntimeError("boom")

    _provider(monkeypatch, "broken_bench_provider", broken)
    _provider(monkeypatch, "good_bench_provider", lambda quick: [Figure("ok", 1.0, "x/s", "-")])
    monkeypatch.setattr(runner, "PROVIDERS", ["broken_bench_provider", "good_bench_provider"])
    monkeypatch.setattr(runner, "_pin_to_one_core", lambda: "cpu0")
    out = tmp_path / "results.json"

    assert runner.main(["--out", str(out)]) == 2
    data = json.loads(out.read_text())
    assert data["failed_providers"] == ["broken_bench_provider"]
    assert [f["name"] for f in data["figures"]] == ["ok"]


def test_rate_helpers_count_items_per_second() -> None:
    runs = rates(lambda: 1000, repeat=3)
    assert len(runs) == 3
    assert all(r > 0 for r in runs)
    subject, floor, ratios = interleaved_rates(lambda: 10, lambda: 10, repeat=2)
    assert len(subject) == len(floor) == len(ratios) == 2
    assert ratios == [s / f for s, f in zip(subject, floor, strict=True)]


def test_bench_inputs_are_distinct_and_realistic() -> None:
    rng = random.Random(7)
    emails = generate_emails(5000, rng)
    phones = generate_phones(5000, rng)
    maids = generate_maids(5000, rng)
    for values in (emails, phones, maids):
        assert len(set(values)) == len(values)  # nothing a cache could exploit
    email_results = [Hasher(IdType.EMAIL)(e) for e in emails]
    assert not any(isinstance(r, Rejected) for r in email_results)
    phone_hasher = Hasher(IdType.PHONE, surface=Surface.CUSTOMER_FILE)
    rejected = sum(isinstance(phone_hasher(p), Rejected) for p in phones)
    # "half messy, some invalid": a few percent rejected, most accepted
    assert 0.01 * len(phones) < rejected < 0.15 * len(phones)
    assert sum(p.startswith("+") and " " not in p for p in phones) >= 0.45 * len(phones)
