"""``python -m tiktok_local.emulator --port 0``: run the emulator standalone."""

from __future__ import annotations

import argparse
import json
import threading

from tiktok_local.emulator import EmulatorConfig, EmulatorServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Strict local TikTok Marketing API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=0, help="fault RNG seed")
    parser.add_argument(
        "--issue-token", action="store_true", help="issue an access token and print it"
    )
    args = parser.parse_args(argv)
    emu = EmulatorServer(EmulatorConfig(seed=args.seed)).start(host=args.host, port=args.port)
    info = {
        "base_url": emu.base_url,
        "tiktok_api_base_url": emu.api_base_url,
        "tiktok_auth_url": emu.auth_url,
        "state_url": emu.base_url + "/_emulator/state",
        "app_id": emu.config.app_id,
    }
    if args.issue_token:
        info["access_token"] = emu.state.issue_token()
    print(json.dumps(info, indent=2), flush=True)  # the URLs are this command's output
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
