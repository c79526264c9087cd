"""The entry point uvicorn imports (`api.asgi:app`), used by `portal serve` with several workers."""

from api.app import create_app

app = create_app()
