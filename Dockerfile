# syntax=docker/dockerfile:1
# Herald image: build with dev dependencies, ship production dependencies only.
#   docker build -t herald:0.1.0 .
#   docker run --read-only -p 3000:3000 -e JWT_SECRET=... herald:0.1.0
# Debian (glibc) rather than Alpine: the pinned `node` devDependency installs a glibc binary.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Manifests first, so dependency layers are reused until the lockfile changes.
COPY package.json package-lock.json ./
COPY client/package.json client/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/build.mjs scripts/
COPY client/scripts client/scripts
COPY client/tsconfig.json client/
COPY client/src client/src
COPY src src
# Builds the @herald/client workspace into client/dist, then the server into dist/, then drops
# dev dependencies. The workspace link node_modules/@herald/client -> ../../client stays: the
# server imports @herald/client/protocol at run time.
RUN npm run build \
    && npm prune --omit=dev --no-audit --no-fund \
    && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and not writable by the app user: the app writes nothing to disk, so the
# container also runs with a read-only root filesystem.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY --from=build /app/client/package.json client/
COPY --from=build /app/client/dist client/dist
# The image's `node` user, by number so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 3000 9090
# Exec form: node is PID 1 and receives SIGTERM itself, which starts the drain.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["node", "-e", "const h = process.env.HOST || '0.0.0.0'; const host = h === '0.0.0.0' || h === '::' ? '127.0.0.1' : h.includes(':') ? '[' + h + ']' : h; fetch('http://' + host + ':' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/main.js"]
