"""A local Binance-style exchange for rehearsals and tests: the real ccxt client trades against it without internet.

Not part of the trading engine: it sits beside the workstation and imports only the core and the venues (the paper
exchange behind it). See :mod:`bot4.localexchange.server`.
"""
