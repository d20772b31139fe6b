# Registers analytics' tables in metadata: the facts' and the knowledge base's copy.
import services.analytics.facts.models
import services.analytics.knowledge.models  # noqa: F401
from services.analytics.db import metadata
from shared.migrations import run_env

run_env(metadata)
