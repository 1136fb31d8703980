"""Settings of the live venue (``[live]`` in bot4.toml) and its error, apart from the adapter so that reading a
config never imports ccxt or the compiled core."""

from __future__ import annotations

from dataclasses import dataclass

from bot4.core.config import ConfigError


@dataclass(frozen=True)
class LiveConfig:
    """How to reach the live venue. Instruments whose ``venue`` is ``exchange`` trade there."""

    exchange: str = "binance"  # ccxt exchange id
    rest_url: str = ""  # "" = the exchange's own REST API; else a base such as http://127.0.0.1:8765/api/v3
    ws_url: str = ""  # "" = the exchange's own streams; else e.g. ws://127.0.0.1:8765/stream/ws
    api_key_env: str = "BOT4_BINANCE_API_KEY"  # environment variable holding the API key
    secret_env: str = "BOT4_BINANCE_SECRET"  # environment variable holding the secret
    timeout_s: float = 10.0  # per REST call
    recv_window_s: float = 5.0  # signed requests older than this are refused by the venue; an order whose send
    # failed is declared absent only once this has passed (until then the venue might still execute it)
    poll_interval_s: float = 0.5  # order status and fills while orders are open
    heartbeat_s: float = 5.0  # a cheap call that keeps the venue breaker informed when nothing else flows
    reconnect_min_s: float = 0.5  # stream back-off: first wait ...
    reconnect_max_s: float = 30.0  # ... doubling up to this
    connect_attempts: int = 5  # load_markets tries at start before giving up
    on_position_mismatch: str = "halt"  # the venue's holdings disagree with the journal after reconciliation:
    # "halt" (HALTED, gate closed) or "reduce" (REDUCING: exits only); never traded through

    def __post_init__(self) -> None:
        if not (isinstance(self.exchange, str) and self.exchange.isidentifier()):
            raise ConfigError(f"config key live.exchange = {self.exchange!r}: must be a ccxt exchange id such as 'binance'")
        for key in ("rest_url", "ws_url"):
            v = getattr(self, key)
            if v and not v.startswith(("http://", "https://", "ws://", "wss://")):
                raise ConfigError(f"config key live.{key} = {v!r}: must be a URL (http[s]:// or ws[s]://) or empty")
        for key in ("timeout_s", "recv_window_s", "poll_interval_s", "heartbeat_s", "reconnect_min_s", "reconnect_max_s"):
            v = getattr(self, key)
            if not (isinstance(v, int | float) and 0 < v <= 3600):
                raise ConfigError(f"config key live.{key} = {v!r}: must be between 0 and 3600 seconds")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ConfigError("config key live.reconnect_max_s: must not be below live.reconnect_min_s")
        if self.on_position_mismatch not in ("halt", "reduce"):
            raise ConfigError(
                f"config key live.on_position_mismatch = {self.on_position_mismatch!r}: must be halt or reduce"
            )
        if not (isinstance(self.connect_attempts, int) and 1 <= self.connect_attempts <= 100):
            raise ConfigError(f"config key live.connect_attempts = {self.connect_attempts!r}: must be 1..100")


class VenueError(RuntimeError):
    """The live venue cannot be used (unreachable at start, keys missing or refused, instrument not listed)."""
