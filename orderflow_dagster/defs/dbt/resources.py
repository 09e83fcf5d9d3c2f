"""The one cached DbtProject and the dbt CLI resource (the venv's dbt, profiles in the repo)."""

import sys
from functools import cache
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from orderflow_dagster.settings import REPO_ROOT

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")  # dagster-dbt would otherwise look on PATH


@cache
def dbt_project() -> DbtProject:
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    # Parses only under `dagster dev`; `make install` / `orderflow up` prepare the manifest otherwise,
    # so production never parses at import time.
    project.prepare_if_dev()
    if not project.manifest_path.exists():
        raise FileNotFoundError(
            f"dbt manifest missing at {project.manifest_path}: run `make install` (it runs `dbt parse`)"
        )
    return project


def dbt_cli() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project(), profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=DBT_EXECUTABLE)
