"""The README's local walkthrough, run as written: `make up`, then each command of its block.

The block (README "The local stack") runs in bash with a plain system ``PATH`` (no aws CLI, no
``jq`` of the machine's), ``.local/`` in a temporary directory (``TIKTOK_LOCAL_WORKDIR``) and the
repository as the working directory. Where the README says "open it, click Confirm", the test
does what the browser does with the link `make connect-link` printed.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.local_stack.up_process import ROOT, UpProcess, clean_env

SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')
_ADVERTISER_BOX = re.compile(r'name="advertiser_id" value="(\d+)"')


def walkthrough() -> list[str]:
    """The commands of the README's local walkthrough (continuation lines kept)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## The local stack\n") :]
    section = section[: section.index("\n## ", 1)]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the local stack section has one shell block"
    commands, current = [], ""
    for line in blocks[0].splitlines():
        current += line + "\n"
        if not line.endswith("\\"):
            commands.append(current)
            current = ""
    return commands


def run_bash(commands: list[str], workdir: Path) -> subprocess.CompletedProcess[str]:
    env = clean_env(workdir)
    env["PATH"] = SYSTEM_PATH
    env.pop("PYTHONPATH")  # make sets it, as for a person
    return subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + "".join(commands)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def click_confirm(link: str, names: dict[str, Any]) -> None:
    """Open the connect link and confirm every advertiser on the consent page, as a browser."""
    browser = requests.Session()
    started = browser.get(link, allow_redirects=False, timeout=10)
    assert started.status_code == 302, started.text
    page = browser.get(started.headers["Location"], timeout=10)
    assert page.status_code == 200, page.text
    form: dict[str, Any] = {k: html.unescape(v) for k, v in _HIDDEN.findall(page.text)}
    form["decision"] = "confirm"
    form["advertiser_id"] = _ADVERTISER_BOX.findall(page.text)
    answer = browser.post(names["tiktok_auth_url"], data=form, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    callback = browser.get(answer.headers["Location"], timeout=30)
    assert callback.status_code == 200, callback.text


@pytest.fixture
def make_up(tmp_path: Path) -> Iterator[UpProcess]:
    subprocess.run(["make", "-s", "awscli"], cwd=ROOT, check=True, capture_output=True)
    up = UpProcess(tmp_path, ["make", "up"])
    try:
        up.wait_ready(timeout=120)
        yield up
    finally:
        up.stop()


def test_every_command_of_the_readme_walkthrough_works_after_make_up(make_up: UpProcess) -> None:
    names = json.loads(make_up.stack_json.read_text())
    commands = walkthrough()
    assert commands[0].startswith("make connect-link")
    setup = [c for c in commands if c.startswith("eval ")]
    read_from = next(i for i, c in enumerate(commands) if c.startswith("make reports"))

    linked = run_bash(commands[:1], make_up.workdir)
    assert linked.returncode == 0, linked.stderr
    link = linked.stdout.strip().splitlines()[-1]
    assert link.startswith(f"{names['connect_url']}?ticket=")
    click_confirm(link, names)

    fed = run_bash(commands[1:read_from], make_up.workdir)
    assert fed.returncode == 0, fed.stdout + fed.stderr
    job_line = make_up.wait_for(
        lambda line: "job " in line and "Spring Buyers" in line and "succeeded" in line,
        what="for the walkthrough's job",
    )
    job_id = job_line.split("job ", 1)[1].split()[0]
    make_up.wait_for(lambda line: "event-forwarder" in line, what="for the events batch")
    state_url = f"{names['emulator_url']}/_emulator/state?members=0"
    deadline = time.monotonic() + 30
    while requests.get(state_url, timeout=5).json()["event_count"] == 0:
        assert time.monotonic() < deadline, "the sample events never reached the emulator"
        time.sleep(0.2)

    read = run_bash(setup + commands[read_from:], make_up.workdir)
    assert read.returncode == 0, read.stdout + read.stderr
    assert f"job {job_id} succeeded: 7100000000000000001 / Spring Buyers / create" in read.stdout
    reports = make_up.workdir / ".local" / "reports"
    assert json.loads((reports / f"{job_id}.json").read_text())["status"] == "succeeded"
    assert (reports / f"{job_id}.rejects.csv").exists()
    state = json.loads(read.stdout[read.stdout.index("{") :])
    spring = [a for a in state["audiences"] if a["name"] == "Spring Buyers"]
    assert spring, state["audiences"]
    assert spring[0]["member_count"] > 0
    assert "members" not in spring[0]  # members=0
    assert state["events"] == []  # events=0 ...
    assert state["event_count"] > 0  # ... keeps the count
