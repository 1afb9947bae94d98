"""An in-memory S3 for the sync unit tests: the calls the sync package makes, no sockets.

Ranged GETs answer ``ContentRange`` like S3; a missing key or a range past the end raises the
``ClientError`` S3 would."""

from __future__ import annotations

import io
from typing import Any

from botocore.exceptions import ClientError


def _error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.gets = 0
        self.puts = 0

    def put_object(self, *, Bucket: str, Key: str, Body: Any, **kwargs: Any) -> dict[str, Any]:
        self.puts += 1
        self.objects[Key] = bytes(Body) if isinstance(Body, bytes | bytearray) else Body.read()
        return {}

    def get_object(self, *, Bucket: str, Key: str, Range: str | None = None) -> dict[str, Any]:
        self.gets += 1
        if Key not in self.objects:
            raise _error("NoSuchKey", "GetObject")
        data = self.objects[Key]
        if Range is None:
            return {"Body": io.BytesIO(data), "ContentLength": len(data)}
        lo_text, _, hi_text = Range.removeprefix("bytes=").partition("-")
        lo = int(lo_text)
        hi = min(int(hi_text), len(data) - 1) if hi_text else len(data) - 1
        if lo >= len(data):
            raise _error("InvalidRange", "GetObject")
        part = data[lo : hi + 1]
        return {
            "Body": io.BytesIO(part),
            "ContentLength": len(part),
            "ContentRange": f"bytes {lo}-{hi}/{len(data)}",
        }

    def list_objects_v2(self, *, Bucket: str, Prefix: str = "", **kwargs: Any) -> dict[str, Any]:
        keys = sorted(k for k in self.objects if k.startswith(Prefix))
        return {"Contents": [{"Key": k} for k in keys], "IsTruncated": False}

    def delete_objects(self, *, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
        for item in Delete["Objects"]:
            self.objects.pop(item["Key"], None)
        return {}
