"""A strict local emulator of the TikTok Marketing API v1.3 (DESIGN §5).

Not a mock that says yes: it rejects what TikTok would reject (tokens, field names and types,
hash formats, batch limits, file signatures, audience names, the 1,000-member update rule, QPS)
with TikTok's envelope and codes, keeps inspectable state and injects faults::

    from tiktok_local.emulator import EmulatorServer, EmulatorConfig

    with EmulatorServer(EmulatorConfig()).start() as emu:
        token = emu.state.issue_token()
        ...  # point TIKTOK_API_BASE_URL at emu.api_base_url, TIKTOK_AUTH_URL at emu.auth_url
        emu.faults.add("http_500", rate=0.2)
        emu.state.audience_members(audience_id)
"""

from tiktok_local.emulator.config import EmulatorConfig
from tiktok_local.emulator.faults import Faults
from tiktok_local.emulator.server import EmulatorServer
from tiktok_local.emulator.state import EmulatorState

__all__ = ["EmulatorConfig", "EmulatorServer", "EmulatorState", "Faults"]
