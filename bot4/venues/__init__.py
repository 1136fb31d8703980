"""Where orders go and market data comes from: the replay feed, the paper exchange, and the ccxt adapter."""
