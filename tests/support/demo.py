"""The small, fast demo data the suite shares: 300 customers, 60 days from 2026-01-01, seed 7
(filled once per session into the test server's sources by the ``generated`` fixture)."""

from __future__ import annotations

from datetime import date, timedelta

from crmwh_devkit.simulators.generator import GeneratorConfig

START = date(2026, 1, 1)
DAYS = 60
CUSTOMERS = 300
SEED = 7
LAST_DAY = START + timedelta(days=DAYS - 1)  # the last generated day
CONFIG = GeneratorConfig(seed=SEED, customers=CUSTOMERS, start=START, days=DAYS)
