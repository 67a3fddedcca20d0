# Gốc web app: gunicorn on 0.0.0.0:8000 as an unprivileged user.
#   docker build -t goc .
#   docker run --env-file goc.env -p 8000:8000 goc            # migrate, then serve
#   docker run --env-file goc.env goc migrate                  # migrations only (a release step)
#   docker run --env-file goc.env goc flask --app wsgi verify-ledger
# Configuration comes from the environment (README.md, "Configuration"); pass secrets as files
# with the *_FILE variables (e.g. Docker or Kubernetes secrets mounted under /run/secrets).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GOC_INSTANCE_PATH=/var/lib/goc \
    GUNICORN_BIND=0.0.0.0:8000

RUN groupadd --system --gid 10001 goc \
    && useradd --system --uid 10001 --gid goc --home-dir /var/lib/goc --no-create-home \
       --shell /usr/sbin/nologin goc \
    && install -d -o goc -g goc -m 0750 /var/lib/goc

WORKDIR /srv/goc

# Dependencies first, so code changes do not reinstall them: pyproject.toml alone with empty
# packages is enough for pip to resolve and install every dependency.
COPY pyproject.toml README.md ./
RUN mkdir app ledger && touch app/__init__.py ledger/__init__.py \
    && pip install . \
    && pip uninstall --yes goc \
    && rm -rf app ledger build *.egg-info

# The code, installed in editable mode: the app finds migrations/ beside its package.
COPY ledger ./ledger
COPY app ./app
COPY storefront ./storefront
COPY migrations ./migrations
COPY wsgi.py gunicorn.conf.py ./
COPY docker/entrypoint.sh /usr/local/bin/goc-entrypoint
RUN pip install --no-deps -e . \
    && chmod 0755 /usr/local/bin/goc-entrypoint \
    && pybabel compile -d app/translations \
    && python -m compileall -q app ledger storefront

USER goc
EXPOSE 8000
# SQLite and local photos live here when DATABASE_URL / STORAGE_URL are not set: mount a volume.
VOLUME ["/var/lib/goc"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/auth/login', timeout=4)"

ENTRYPOINT ["goc-entrypoint"]
CMD ["serve"]
