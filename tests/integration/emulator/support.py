"""Helpers shared by the emulator tests: ids, hashing, and a small HTTP client."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import requests

from tiktok_local.emulator import EmulatorConfig, EmulatorServer

ADV1 = "7100000000000000001"
ADV2 = "7100000000000000002"
PIXEL = "CDEMOPIXEL000000000A"
APP_SOURCE = "7200000000000000001"
OFFLINE_SET = "7300000000000000001"
CRM_SET = "7400000000000000001"


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def md5(value: str) -> str:
    return hashlib.md5(value.encode()).hexdigest()  # noqa: S324 - TikTok's MD5 id types


def email_hashes(n: int, prefix: str = "user") -> list[str]:
    return [sha256(f"{prefix}{i}@example.com") for i in range(n)]


class Api:
    """Talks to the emulator like our client does: JSON bodies, ``Access-Token`` header."""

    def __init__(self, emu: EmulatorServer, token: str) -> None:
        self.emu = emu
        self.token = token
        self.session = requests.Session()

    def url(self, path: str) -> str:
        return self.emu.api_base_url + path

    def headers(self, token: str | None) -> dict[str, str]:
        tok = self.token if token is None else token
        return {"Access-Token": tok} if tok else {}

    def post(self, path: str, body: Any, *, token: str | None = None) -> dict[str, Any]:
        resp = self.session.post(self.url(path), json=body, headers=self.headers(token), timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def get(
        self, path: str, params: dict[str, Any] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        params = {k: json.dumps(v) if isinstance(v, list) else v for k, v in (params or {}).items()}
        resp = self.session.get(
            self.url(path), params=params, headers=self.headers(token), timeout=10
        )
        assert resp.status_code == 200, resp.text
        return resp.json()

    def upload(
        self,
        content: bytes,
        *,
        calculate_type: str = "EMAIL_SHA256",
        advertiser_id: str = ADV1,
        filename: str = "chunk.csv",
        signature: str | None = None,
        extra: dict[str, str] | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        form = {
            "advertiser_id": advertiser_id,
            "calculate_type": calculate_type,
            "file_signature": signature or hashlib.md5(content).hexdigest(),  # noqa: S324
            **(extra or {}),
        }
        resp = self.session.post(
            self.url("/dmp/custom_audience/file/upload/"),
            data=form,
            files={"file": (filename, content, "text/csv")},
            headers=self.headers(token),
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        return resp.json()

    def upload_hashes(
        self, hashes: list[str], *, calculate_type: str = "EMAIL_SHA256", header: bool = True
    ) -> str:
        lines = ([header_for(calculate_type)] if header else []) + hashes
        body = self.upload(("\n".join(lines) + "\n").encode(), calculate_type=calculate_type)
        assert body["code"] == 0, body
        return str(body["data"]["file_path"])

    def create_audience(self, name: str, file_paths: list[str], **extra: Any) -> dict[str, Any]:
        return self.post(
            "/dmp/custom_audience/create/",
            {
                "advertiser_id": ADV1,
                "custom_audience_name": name,
                "calculate_type": extra.pop("calculate_type", "EMAIL_SHA256"),
                "file_paths": file_paths,
                **extra,
            },
        )

    def segment(self, name: str, advertiser_id: str = ADV1) -> str:
        body = self.post(
            "/segment/audience/",
            {"advertiser_id": advertiser_id, "action": "create", "custom_audience_name": name},
        )
        assert body["code"] == 0, body
        return str(body["data"]["audience_id"])


def header_for(calculate_type: str) -> str:
    """TikTok's documented header of a single-type file (contract CF-05, CF-07)."""
    kind, _, alg = calculate_type.partition("_")
    if kind in ("IDFA", "GAID", "FIRST", "MAID"):
        return f"MAID_{alg}"
    return f"{kind.title()}_{alg}"


def no_qps_config(**overrides: Any) -> EmulatorConfig:
    """Default config without QPS limits, so functional tests never trip 40100 by accident."""
    return EmulatorConfig(qps={}, **overrides)


class FrozenClock:
    """A clock that only moves when told (``emu.state.advance_time`` moves it too)."""

    def __init__(self, start: float = 1_760_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now
