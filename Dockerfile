# MCPHub: `docker build -t mcphub .`, then `docker compose up` (docker-compose.yml) or see the
# README's "Deployment". Node runs the TypeScript directly (type stripping): no compile step.

# Production dependencies, installed where compilers are: argon2 is a native addon, prebuilt for
# linux x64/arm64 and compiled from source elsewhere (python3, make, g++). Dev dependencies are
# never installed: nothing is built from them, and `node@24` among them downloads a Node binary.
FROM node:24-bookworm-slim AS build
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# The dashboard's files, built with the dev dependencies that build them. Their install scripts
# are skipped (the `node@24` binary is not downloaded): this stage's own Node 24 runs the build.
FROM node:24-bookworm-slim AS dashboard
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN node node_modules/typescript/bin/tsc -p dashboard && node node_modules/vite/bin/vite.js build dashboard

FROM node:24-bookworm-slim AS runtime
# tini as PID 1 reaps orphaned grandchildren (an `npx` wrapper's server outlives its parent and
# is re-parented to PID 1; node only waits for its own children) and passes SIGTERM to node.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/* \
  && mkdir -p /data/home \
  && chown -R node:node /data
# HOME on the data volume: `npx -y` servers keep their npm cache across container re-creation.
# HOST 0.0.0.0 lets the published port reach the hub: set MCPHUB_ALLOWED_HOSTS to the names
# clients use (DNS rebinding protection), else the MCP endpoints answer to any Host.
ENV HOST=0.0.0.0 \
  PORT=3000 \
  MCPHUB_DATA_DIR=/data \
  HOME=/data/home
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
# Owned by root, read-only for the hub: it writes to /data only.
COPY . .
COPY --from=dashboard /app/dashboard/dist ./dashboard/dist
USER node
EXPOSE 3000
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "server.ts"]
