import services.workbench.access.models  # noqa: F401 - registers the workbench's tables
from services.workbench.db import metadata
from shared.migrations import run_env

run_env(metadata)
