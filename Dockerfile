# Agio API server. Build: docker build -t agio .   Run: see docker-compose.yml and README.
# Stage 1 installs the pinned dependencies into a virtual environment; stage 2 copies only
# that environment and the bundled configs into a clean slim image, run by a non-root user.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY agio ./agio
# requirements.lock pins every package (the dev tools too); as constraints it only fixes
# the versions of what the runtime needs, and installs nothing else
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --constraint requirements.lock . \
 && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AGIO_ENVIRONMENT=production \
    AGIO_DATA_DIR=/data \
    AGIO_CONFIGS_DIR=/app/configs \
    AGIO_LOG_FORMAT=json
RUN groupadd --system --gid 10001 agio \
 && useradd --system --uid 10001 --gid agio --home-dir /app --shell /usr/sbin/nologin agio \
 && mkdir -p /data /app \
 && chown agio:agio /data
COPY --from=build /opt/venv /opt/venv
COPY configs /app/configs
USER agio
WORKDIR /app
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=4).status == 200 else 1)"]
# AGIO_JWT_SECRET must be given at run time (production refuses to start without one)
CMD ["agio", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
