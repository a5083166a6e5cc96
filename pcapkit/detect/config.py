"""Every detector threshold in one place, each documented where it is declared.

A `Config` is passed to every detector; change one with `dataclasses.replace(DEFAULT, ...)` or
the CLI's `--set name=value`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    # --- TCP detectors ------------------------------------------------------------------------

    # --- DNS and ICMP detectors ---------------------------------------------------------------

    pass


DEFAULT = Config()
