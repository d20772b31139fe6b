import services.notify.messages.models  # noqa: F401 - registers notify's tables in metadata
from services.notify.db import metadata
from shared.migrations import run_env

run_env(metadata)
