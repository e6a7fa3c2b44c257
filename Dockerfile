# One image for every Carthouse service; the command picks the service (see docker-compose.yml).

# The dashboard's browser libraries, from the npm registry as package-lock.json pins them (not the dev tools).
FROM node:20.18-bookworm-slim AS web
WORKDIR /web
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim-bookworm

WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1

# Tools for code generation first, so the layer is reused while the sources change.
RUN pip install --no-cache-dir grpcio-tools==1.85.1 googleapis-common-protos==1.76.0

COPY pyproject.toml README.md ./
COPY protos ./protos
COPY scripts ./scripts
COPY carthouse ./carthouse
COPY services ./services
COPY gateway ./gateway
COPY app ./app
COPY --from=web /web/node_modules ./node_modules
RUN scripts/gen-protos python && pip install --no-cache-dir . \
    && useradd --system --uid 10001 carthouse && mkdir -p /data && chown carthouse /data

USER carthouse
ENV CARTHOUSE_DATA_DIR=/data CARTHOUSE_GRPC_HOST=0.0.0.0 CARTHOUSE_GRPC_PORT=50051 \
    CARTHOUSE_DESCRIPTOR_SET=/app/build/carthouse.pb
EXPOSE 50051
HEALTHCHECK --interval=10s --timeout=5s --retries=5 CMD ["carthouse", "health"]
CMD ["carthouse", "serve", "ingest", "analytics", "fraud", "fx", "admin"]
