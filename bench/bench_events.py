"""Event forwarding figure: mParticle events mapped, hashed and sent per second, one process.

The subject is the real :class:`~tiktok_connector.events.forwarder.EventForwarder` (JSON parse,
batch validation, identity hashing, mapping, grouping, HTTP to the emulator) on a backlog of
realistic mParticle batches (5 events per user batch, every user distinct). The strict emulator
runs in a separate process so its validation does not share this process's core.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import random
import subprocess
import sys
import time
from typing import Any

from bench import Figure, median, rates
from tiktok_connector.events.forwarder import EventForwarder
from tiktok_connector.events.messages import SqsMessage
from tiktok_connector.events.sending import SentLedger
from tiktok_connector.events.settings import ConnectionSettings
from tiktok_connector.tiktok import TikTokClient

SEED = 20261122
EVENTS_PER_BATCH = 5
TARGET = 5_000.0


class _One:
    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings

    def get(self, name: str, *, refresh: bool = False) -> ConnectionSettings:
        return self.settings


def _start_emulator() -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tiktok_local.emulator", "--port", "0", "--issue-token"],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    assert proc.stdout is not None
    # The runner pins this process to one core; the emulator is the far side of the network and
    # must not compete for that core.
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(proc.pid, range(os.cpu_count() or 1))
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("}"):
            break
    return proc, json.loads("".join(lines))


def _messages(rng: random.Random, users: int, run: int) -> list[SqsMessage]:
    out = []
    for u in range(users):
        events = []
        for i in range(EVENTS_PER_BATCH):
            events.append(
                {
                    "event_type": "commerce_event",
                    "data": {
                        "event_id": rng.getrandbits(63),
                        "source_message_id": f"r{run}-u{u}-e{i}",
                        "timestamp_unixtime_ms": 1_763_633_700_000 + rng.randrange(10**6),
                        "currency_code": "USD",
                        "custom_flags": {
                            "TikTok.URL": f"https://shop.example.com/p/{rng.randrange(10**5)}",
                            "TikTok.Callback": f"E.C.P.{rng.getrandbits(64):x}",
                        },
                        "product_action": {
                            "action": rng.choice(
                                ["purchase", "add_to_cart", "view_detail", "checkout"]
                            ),
                            "total_amount": 59.0,
                            "products": [
                                {
                                    "id": rng.randrange(10**7),
                                    "name": "Shirt",
                                    "category": "apparel",
                                    "price": 29.5,
                                    "quantity": 2,
                                }
                            ],
                        },
                    },
                }
            )
        body = {
            "events": events,
            "mpid": rng.getrandbits(63),
            "ip": f"203.0.{rng.randrange(256)}.{rng.randrange(256)}",
            "user_identities": {
                "email": f"user{run}x{u}@example.com",
                "mobile_number": f"+1 (415) {rng.randrange(200, 999)}-{rng.randrange(10**4):04d}",
                "customer_id": f"cust-{run}-{u}",
            },
            "user_attributes": {
                "$FirstName": "Jane",
                "$LastName": "Doe",
                "$Zip": "94103",
                "$City": "San Francisco",
            },
            "device_info": {"http_header_user_agent": "Mozilla/5.0 (Macintosh) Safari/605.1.15"},
            "partner_identities": {"tiktok_cookie_id": f"ttp-{u}"},
        }
        out.append(SqsMessage(message_id=f"m-{run}-{u}", body=json.dumps(body)))
    return out


def figures(quick: bool) -> list[Figure]:
    proc, info = _start_emulator()
    try:
        settings = ConnectionSettings.model_validate(
            {
                "event_source_type": "web",
                "event_source_id": "CDEMOPIXEL000000000A",
                "access_token": info["access_token"],
            }
        )
        logger = logging.getLogger("bench.events")
        logger.setLevel(logging.ERROR)
        forwarder = EventForwarder(
            client=TikTokClient(info["tiktok_api_base_url"]),
            connections=_One(settings),
            logger=logger,
        )
        users = 1_000 if quick else 2_000  # 5,000 / 10,000 events a run: a backlog
        rng = random.Random(SEED)
        runs = itertools.count()
        backlogs = [_messages(rng, users, next(runs)) for _ in range(4 if quick else 6)]
        queue = iter(backlogs)
        request_sizes: list[int] = []
        cpu_rates: list[float] = []
        wall_rates: list[float] = []

        def work() -> int:
            forwarder.ledger = SentLedger()
            before = forwarder.client.stats.calls
            cpu, wall = time.process_time(), time.perf_counter()
            result = forwarder.forward(next(queue))
            cpu_rates.append(result.forwarded / max(1e-9, time.process_time() - cpu))
            wall_rates.append(result.forwarded / max(1e-9, time.perf_counter() - wall))
            if result.failed or result.dropped:
                raise RuntimeError(
                    f"bench run failed: {len(result.failed)} failed, {dict(result.dropped)}"
                )
            request_sizes.append(result.forwarded // max(1, forwarder.client.stats.calls - before))
            return result.forwarded

        rates(work, repeat=len(backlogs) - 1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    runs_s = wall_rates[1:]  # the first run is rates()'s warm-up
    fills = [size / 1_000 for size in request_sizes[1:]]
    value = median(runs_s)
    return [
        Figure(
            name="event forwarding (parse + map + hash + send to emulator)",
            value=value,
            unit="events/s",
            target=f">= {TARGET:,.0f} events/s per process",
            met=value >= TARGET,
            runs=runs_s,
            note=(
                f"wall clock; {EVENTS_PER_BATCH} events per mParticle batch; smallest mean request "
                f"{min(request_sizes)} events; load average {os.getloadavg()[0]:.1f}"
            ),
        ),
        Figure(
            name="event forwarding, CPU time of the forwarder process",
            value=median(cpu_rates[1:]),
            unit="events/CPU-s",
            target="informational: the rate one uncontended core sustains",
            runs=cpu_rates[1:],
            note="process_time() of this process; the emulator runs in another process",
        ),
        Figure(
            name="event forwarding: request fill under backlog",
            value=min(fills),
            unit="x 1,000 events",
            target="full 1,000-event requests under backlog",
            met=min(fills) >= 1.0,
            runs=fills,
            note=(
                "events per /event/track/ request (mean of each run; value = the worst run); "
                f"backlog of {users * EVENTS_PER_BATCH:,} events per forward() call"
            ),
        ),
    ]
