"""The ccxt client as the live venue uses it: built from config with keys from the environment, and what it tracks.

The client is ``ccxt.pro``'s (REST and websockets), rate-limited (``enableRateLimit``), its URLs pointed elsewhere
when the config asks (the local exchange). API keys come from the environment variables the config names, never
from a file, and ccxt's DEBUG request logging (which would carry the key header) is kept off.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot4.venues.live_config import LiveConfig, VenueError


@dataclass
class Tracked:
    """An order the venue holds for us."""

    coid: int
    symbol_id: int
    side: int
    size: float
    venue_id: str = ""
    filled: float = 0.0  # reported to the core so far
    polls_closed: int = 0  # polls that saw it closed while fills were still missing
    trade_ids: set[str] = field(default_factory=set)  # fills already reported
    missing: int = 0  # polls in a row the venue said it has no such order


@dataclass
class LiveStats:
    sent: int = 0
    acked: int = 0
    rejected: int = 0
    canceled: int = 0
    expired: int = 0
    fills: int = 0
    unknown: int = 0
    calls: int = 0
    call_failures: int = 0
    reconnects: int = 0
    stream_messages: int = 0
    reconciled_canceled: int = 0
    foreign_orders: int = 0
    recovered: int = 0  # orders the journal left open, looked up at the venue at start
    recovered_fills: int = 0  # fills found that way (made while no engine was watching)
    lost_orders: int = 0  # orders the venue stopped knowing (closed, what was filled kept)
    errors: dict[str, int] = field(default_factory=dict)


def backoff_delays(first: float, cap: float, rng: random.Random | None = None) -> Any:
    """Exponential back-off with full jitter: first, 2x, 4x ... capped; each wait drawn in [d/2, d]."""
    rng = rng or random.Random()
    d = first
    while True:
        yield rng.uniform(d / 2, d)
        d = min(cap, d * 2)


def build_client(config: LiveConfig, env: Mapping[str, str] | None = None) -> Any:
    """The ccxt.pro client for ``config``: rate-limited, keys from the environment, URLs overridden if asked."""
    import ccxt.pro as ccxtpro

    env = os.environ if env is None else env
    cls = getattr(ccxtpro, config.exchange, None)
    if cls is None:
        raise VenueError(f"live.exchange = {config.exchange!r}: ccxt.pro has no such exchange")
    key, secret = env.get(config.api_key_env, ""), env.get(config.secret_env, "")
    if not key or not secret:
        raise VenueError(
            f"live venue {config.exchange}: set the API key and secret in the environment variables "
            f"{config.api_key_env} and {config.secret_env} (they are never read from a file)"
        )
    # ccxt logs every request, headers (the API key) included, at DEBUG: never let that through
    logging.getLogger("ccxt").setLevel(max(logging.INFO, logging.getLogger("ccxt").getEffectiveLevel()))
    client = cls(
        {
            "apiKey": key,
            "secret": secret,
            "enableRateLimit": True,
            "timeout": int(config.timeout_s * 1000),
            "options": {
                "fetchMarkets": {"types": ["spot"]},
                "fetchCurrencies": False,
                "fetchMargins": False,
                "warnOnFetchOpenOrdersWithoutSymbol": False,
                "defaultType": "spot",
                "recvWindow": int(config.recv_window_s * 1000),
            },
        }
    )
    point_at(client, config.rest_url, config.ws_url)
    return client


def point_at(client: Any, rest_url: str, ws_url: str) -> None:
    """Send ``client``'s REST calls to ``rest_url`` and its streams to ``ws_url`` (each only when given)."""
    if rest_url:
        api = client.urls["api"]
        for name in ("public", "private", "v1"):
            if name in api:
                api[name] = rest_url
    if ws_url:
        ws = client.urls["api"].get("ws")
        if isinstance(ws, dict):
            for name in list(ws):
                ws[name] = ws_url
        else:
            client.urls["api"]["ws"] = ws_url
