# Registers intake's tables in metadata: search's, the complaints' it imports, attachments',
# the knowledge base's.
import services.intake.attachments.models
import services.intake.knowledge.models
import services.intake.search.models  # noqa: F401
from services.intake.db import metadata
from shared.migrations import run_env

run_env(metadata)
