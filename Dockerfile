# One image for panen's Python services (ingest, api, sim, and the one-shot init of docker-compose).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PANEN_DATA_DIR=/var/lib/panen
WORKDIR /app
COPY pyproject.toml README.md ./
COPY sensors sensors
COPY storage storage
COPY ingest ingest
COPY forecast forecast
COPY firmware_sim firmware_sim
COPY services services
COPY api api
COPY dashboards dashboards
COPY panen panen
COPY bench bench
RUN pip install ".[cluster]" && useradd --system --home /var/lib/panen panen && mkdir -p /var/lib/panen \
    && chown panen /var/lib/panen
USER panen
CMD ["panen", "--help"]
