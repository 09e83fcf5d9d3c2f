"""The code location: merges every domain under defs/ into one Definitions."""

import dagster as dg

from orderflow_dagster.defs.ingestion.definitions import defs as ingestion_defs

defs = dg.Definitions.merge(ingestion_defs)
