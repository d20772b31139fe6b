# Registers intake's tables in metadata: search's, the complaints' it imports, attachments'.
import services.intake.attachments.models
import services.intake.search.models  # noqa: F401
from services.intake.db import metadata
from shared.migrations import run_env

run_env(metadata)
