"""The entry point uvicorn imports (`api.asgi:app`), used by `portal serve` with several workers."""

from portal.api.app import create_app
from portal.core.logs import configure_logging
from portal.core.settings import load_settings

settings = load_settings()
configure_logging(settings.log_format)  # each worker process is spawned afresh: set its logging up too
app = create_app(settings)
