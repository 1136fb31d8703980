"""bot4: a terminal trading workstation for crypto."""

__version__ = "0.1.0"
