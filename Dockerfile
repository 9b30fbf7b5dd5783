# syntax=docker/dockerfile:1
# govledger gateway image. The build runs the same Makefile target as a developer's
# `make` (`make .venv/.installed`), with INSTALL=. so the dev extra is left out.

FROM python:3.11-slim-bookworm AS build
# make only, from the base image's Debian release (a pinned version would break rebuilds there)
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md Makefile ./
COPY govledger ./govledger
RUN make .venv/.installed INSTALL=.

FROM python:3.11-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/app/.venv/bin:$PATH \
    GOVLEDGER_LOG_FORMAT=json
RUN groupadd --system --gid 10001 govledger \
    && useradd --system --uid 10001 --gid govledger --home-dir /var/lib/govledger \
       --create-home --shell /usr/sbin/nologin govledger
WORKDIR /app
# The venv holds the package itself (with its JSON schema); same path as in the build stage.
COPY --from=build /app/.venv /app/.venv
COPY config.example.json /etc/govledger/config.example.json
USER 10001:10001
WORKDIR /var/lib/govledger
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["govledger"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--config", "/etc/govledger/config.json"]
