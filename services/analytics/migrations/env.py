import services.analytics.facts.models  # noqa: F401 - registers analytics' tables in metadata
from services.analytics.db import metadata
from shared.migrations import run_env

run_env(metadata)
