"""Backtests and parameter sweeps over recorded data, on the live core, paper venue and risk checks.

- ``run``: one lockstep pass (or several lanes in one walk) with the account's equity sampled on a market-time grid;
- ``trades``: round trips rebuilt from the fills; ``metrics``: the summary figures;
- ``report``: a run as a report, written to and read from a directory (``load_report`` for the UI); ``text``: the
  terminal rendering; ``html``: the self-contained HTML page;
- ``sweep``: many parameter sets (grid or Optuna, optional walk-forward) on local processes or a Dask cluster.
"""
