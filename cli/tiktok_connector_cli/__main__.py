"""``python -m tiktok_connector_cli`` = ``tiktok-connector``."""

from tiktok_connector_cli.app import main

main()
