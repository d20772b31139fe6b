import services.intake.complaints.models  # noqa: F401 - registers intake's tables in metadata
from services.intake.db import metadata
from shared.migrations import run_env

run_env(metadata)
