"""The ccxt client the data tools use: ``ccxt.pro``'s (REST and websockets), public data only (no keys), rate
limited, its URLs pointed elsewhere when asked (the local exchange); and the checks every data command makes first."""

from __future__ import annotations

import logging
from typing import Any

from bot4.venues.ccxt_client import point_at


class DataError(ValueError):
    """A data command cannot go on (unknown exchange or symbol, unreachable exchange, bad file); says what to do."""


def public_client(exchange: str, rest_url: str = "", ws_url: str = "", timeout_s: float = 10.0) -> Any:
    """A ``ccxt.pro`` client for ``exchange``'s public market data (spot markets)."""
    import ccxt.pro as ccxtpro

    cls = getattr(ccxtpro, exchange, None) if exchange.isidentifier() else None
    if cls is None:
        raise DataError(f"--exchange {exchange!r}: ccxt.pro has no such exchange (e.g. binance, bybit, okx)")
    logging.getLogger("ccxt").setLevel(max(logging.INFO, logging.getLogger("ccxt").getEffectiveLevel()))
    client = cls(
        {
            "enableRateLimit": True,
            "timeout": int(timeout_s * 1000),
            "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "defaultType": "spot"},
        }
    )
    point_at(client, rest_url, ws_url)
    return client


async def load_markets(client: Any, symbols: list[str], attempts: int = 3) -> None:
    """Load ``client``'s markets (retried on network errors) and check every symbol is one of them."""
    import asyncio

    import ccxt

    where = client.urls["api"].get("public") or client.id
    for attempt in range(attempts):
        try:
            await client.load_markets()
            break
        except (ccxt.NetworkError, ccxt.ExchangeNotAvailable) as exc:
            if attempt == attempts - 1:
                raise DataError(
                    f"{client.id} at {where} does not answer ({type(exc).__name__}: {str(exc)[:160]}); "
                    "check the address and the network, then run the command again"
                ) from None
            await asyncio.sleep(0.5 * 2**attempt)
        except ccxt.BaseError as exc:
            raise DataError(
                f"{client.id} at {where} refused the market list ({type(exc).__name__}: {str(exc)[:160]})"
            ) from None
    for symbol in symbols:
        if symbol not in client.markets:
            near = sorted(s for s in client.markets if s.split("/")[0] == symbol.split("/")[0])[:5]
            hint = f" (it lists {', '.join(near)})" if near else ""
            raise DataError(f"symbol {symbol!r}: {client.id} has no such market{hint}; symbols are written BASE/QUOTE")
