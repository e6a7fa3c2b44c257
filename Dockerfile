# One image for every Carthouse service; the command picks the service (see docker-compose.yml).

# The browser side, from the npm registry as package-lock.json pins it: the dashboard's libraries, and the
# tracker built by esbuild. Only those reach the image, not the build tools.
FROM node:20.18-bookworm-slim AS web
WORKDIR /web
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY sdk/js ./sdk/js
RUN npm run --silent build:tracker

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
COPY sdk/js/package.json ./sdk/js/package.json
COPY --from=web /web/node_modules/uplot ./node_modules/uplot
COPY --from=web /web/build/sdk ./build/sdk
RUN scripts/gen-protos python && pip install --no-cache-dir . \
    && useradd --system --uid 10001 carthouse && mkdir -p /data && chown carthouse /data

USER carthouse
ENV CARTHOUSE_DATA_DIR=/data CARTHOUSE_GRPC_HOST=0.0.0.0 CARTHOUSE_GRPC_PORT=50051 \
    CARTHOUSE_DESCRIPTOR_SET=/app/build/carthouse.pb
EXPOSE 50051
HEALTHCHECK --interval=10s --timeout=5s --retries=5 CMD ["carthouse", "health"]
CMD ["carthouse", "serve", "ingest", "analytics", "fraud", "fx", "admin"]
