# The models register the escalation tables on the metadata the migrations compare.
import services.escalation.complaints.models
import services.escalation.directory.models
import services.escalation.roster.models
import services.escalation.workload.models  # noqa: F401
from services.escalation.db import metadata
from shared.migrations import run_env

run_env(metadata)
