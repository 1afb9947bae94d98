"""``tiktok-connector``: the operator's command line for a local or deployed stack."""
