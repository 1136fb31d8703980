"""Market data a trader brings: history downloaded through ccxt, live data recorded through ccxt.pro, and imports of
Binance dumps, Tardis CSV and hftbacktest captures, all into the files bot4 replays (:mod:`bot4.marketdata.files`)."""
