"""The entry point uvicorn imports (`api.asgi:app`), used by `portal serve` with several workers."""

from portal.api.app import create_app

app = create_app()
