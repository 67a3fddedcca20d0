"""The app as ``wsgi.py`` serves it, plus one trivial route for bench/storefront.py: the
baseline a storefront page's throughput is compared with, through the same gunicorn, app
factory, request hooks (session, security headers) and access log. Never deployed."""

from flask import Response

from app import create_app

app = create_app()


@app.get("/_bench/trivial")
def trivial() -> Response:
    return Response("ok", mimetype="text/plain")
