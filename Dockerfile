# kpi-pipeline: the compiled program on Node 20, as an unprivileged user.
#   docker build -t kpi-pipeline .
#   docker run -p 127.0.0.1:9464:9464 -v kpi-data:/app/data kpi-pipeline    # embedded mode
# docker-compose.yml runs it with Postgres and Redis.

# Build: the TypeScript sources compiled to dist/ once, here, rather than at every start.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
RUN npm run build

FROM node:20-slim
ENV NODE_ENV=production
# The port the HTTP surface listens on, and the health check asks (it wins over server.port).
ENV KPI_PORT=9464
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY config ./config
# Embedded mode (no DATABASE_URL) keeps its database in dataDir, ./data by default: a folder
# the node user owns, and a volume so it outlives the container.
RUN mkdir -p /app/data && chown node:node /app/data
VOLUME ["/app/data"]
USER node
EXPOSE 9464
# Ready, not just alive: /readyz answers 503 while start-up waits for Postgres or Redis and
# while either is unreachable. No curl in the slim image; node's fetch does it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.KPI_PORT + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Inside a container the HTTP surface must listen on every interface to be reachable at all;
# the port is published (docker-compose.yml: to 127.0.0.1 only) or not by whoever runs it.
# node itself is the container's main process, so `docker stop` (SIGTERM) reaches the app;
# give it longer than --shutdown-timeout (docker stop -t 45, stop_grace_period in compose).
CMD ["node", "dist/main.js", "start", "--host", "0.0.0.0", "--shutdown-timeout", "30"]
