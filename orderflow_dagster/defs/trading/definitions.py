"""Everything the trading domain contributes to the code location.

Trading settings are validated when the code location loads: a bad value (or live mode
without both switches and a key) stops start-up with a message naming the variable; live mode
prints its banner on stderr (code server, daemon, webserver and each run's process).
"""

import dagster as dg

from orderflow_dagster.defs.trading.assets import signals_and_executions
from orderflow_dagster.defs.trading.resources import Trading
from orderflow_dagster.trading.config import announce_live_mode, load_trading_settings

announce_live_mode(load_trading_settings())

defs = dg.Definitions(assets=[signals_and_executions], resources={"trading": Trading()})
