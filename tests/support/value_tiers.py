"""The value tiers' sizes (DOMAIN §2) as the marts count them: the dbt vars' shares as exact
decimals (SQL numeric), so a share like 5 % of 300 is 15, not a float's 15.000000000000002."""

from __future__ import annotations

import math
from decimal import Decimal

from crmwh.settings import dbt_vars

_VARS = dbt_vars()  # the project's business-rule parameters, read, never copied
KEY_SHARE = Decimal(str(_VARS["value_tier_key_share"]))
ORDINARY_SHARE = Decimal(str(_VARS["value_tier_ordinary_share"]))


def tier_sizes(customers: int) -> tuple[int, int]:
    """(key, key + ordinary): how many of ``customers``, ranked by value, the key tier and
    the key and ordinary tiers together hold."""
    return (math.ceil(customers * KEY_SHARE),
            math.ceil(customers * (KEY_SHARE + ORDINARY_SHARE)))
