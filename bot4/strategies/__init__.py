"""The built-in strategies written on the strategy SDK: read them, copy one next to your config, change it.

Each gives the same orders and fills as the in-core built-in of the same name (``kind = "ema_cross"`` etc.), with
the same parameter names; use one with ``kind = "bot4.strategies.ema_cross:EmaCross"`` or, copied,
``kind = "strategies/my_cross.py:MyCross"``.
"""
