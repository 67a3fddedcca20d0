#!/bin/sh
# serve (default): run the database migrations, then replace this shell with gunicorn.
#   Set RUN_MIGRATIONS=0 where a release step migrates once before the hosts start.
# migrate: only the migrations. Anything else is run as given (e.g. flask --app wsgi ...).
set -eu
cd /srv/goc

case "${1:-serve}" in
    serve)
        if [ "${RUN_MIGRATIONS:-1}" = "1" ]; then
            flask --app wsgi db upgrade
        fi
        exec gunicorn -c gunicorn.conf.py --bind "${GUNICORN_BIND:-0.0.0.0:8000}" wsgi:app
        ;;
    migrate)
        exec flask --app wsgi db upgrade
        ;;
    *)
        exec "$@"
        ;;
esac
