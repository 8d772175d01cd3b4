# The bot's image: `backup-bot serve` as a non-root user on a slim Python.
#
#   docker build -t atlassian-backup-bot .
#   docker run --env-file .env -p 3000:3000 atlassian-backup-bot                     # HTTP mode
#   docker run --env-file .env -p 3000:3000 atlassian-backup-bot --metrics-port 3000 # Socket Mode
#
# The first stage installs the bot and its dependencies (all published as wheels) into a
# virtual environment; the final stage copies only that environment, so it carries no
# compiler, no pip cache and no source tree.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/backup-bot
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN /opt/backup-bot/bin/pip install --no-cache-dir '.[speed]'

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="atlassian-backup-bot" \
      org.opencontainers.image.description="Slack chat-ops bot for Atlassian Cloud backup and restore" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 backup-bot \
    && useradd --system --uid 10001 --gid backup-bot --home-dir /nonexistent \
       --no-create-home --shell /usr/sbin/nologin backup-bot
COPY --from=build /opt/backup-bot /opt/backup-bot
ENV PATH=/opt/backup-bot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BOT_LOG_FORMAT=json
# Settings come from the environment; the working directory holds no .env of its own.
WORKDIR /app
USER 10001:10001
EXPOSE 3000
# Liveness only: /healthz answers while the event loop runs (HTTP mode, or Socket Mode
# with --metrics-port 3000). Readiness (/readyz) is for orchestrators that route traffic.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=4)"]
ENTRYPOINT ["backup-bot", "serve"]
# Arguments given to `docker run` replace these: `--metrics-port 3000` alone is Socket Mode.
CMD ["--http", "--port", "3000"]
