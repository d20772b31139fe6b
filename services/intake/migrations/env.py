import services.intake.attachments.models  # registers intake's tables in metadata
import services.intake.complaints.models  # noqa: F401
from services.intake.db import metadata
from shared.migrations import run_env

run_env(metadata)
