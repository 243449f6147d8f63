# syntax=docker/dockerfile:1
# Multi-stage build of the AdCP sales agent. Runs `sales-agent serve` on port 3000.
# Without DATABASE_URL it starts an embedded Postgres in /data (mount a volume there);
# in production, point DATABASE_URL at your Postgres and run extra `worker` containers to scale out.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# npm ci's postinstall mends the postgres.js driver (see the script).
COPY scripts/patch-postgres.mjs ./scripts/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY scripts/build-validators.mjs ./scripts/
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
# tini as PID 1: forwards SIGTERM to node and reaps exited children (the embedded Postgres's), which node as PID 1 does not.
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    SALES_AGENT_DATA_DIR=/data \
    LOG_LEVEL=info \
    NODE_OPTIONS="--max-semi-space-size=8 --max-old-space-size=192"
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY drizzle ./drizzle
# For the driver check's advice (node scripts/patch-postgres.mjs), should the image's driver ever be unmended.
COPY scripts/patch-postgres.mjs ./scripts/
RUN mkdir -p /data && chown node:node /data
# Postgres (embedded) refuses to run as root; the node user is fine.
USER node
VOLUME ["/data"]
EXPOSE 3000
# Probes the address the server listens on: loopback when it listens on every address, else HOST itself.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s \
  CMD node -e "const h=process.env.HOST||'';const a=['','0.0.0.0','::'].includes(h)?'127.0.0.1':h.includes(':')?'['+h+']':h;fetch('http://'+a+':'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/cli.js"]
CMD ["serve"]
