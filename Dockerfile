# syntax=docker/dockerfile:1.7
# One image, both commands: `sidecar-monitor operator` (the chart's Deployment) and
# `sidecar-monitor exporter` (injected by the operator with `args: [exporter, ...]`).
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t REPO:TAG --push .
#
# Stages: `build` compiles the TypeScript to dist/ (architecture-independent JavaScript, so
# it runs on the build machine's platform); `deps` installs only production dependencies
# for the target platform; the final stage is distroless: Node 24, no shell, no package
# manager, non-root (uid/gid 65532). Everything in /app is owned by root and readable by
# all, because the exporter runs as the watched app's own uid (whatever it is) and never
# writes to its filesystem (the chart and the operator mount the root read-only).

ARG NODE_VERSION=24

FROM --platform=$BUILDPLATFORM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the build needs only TypeScript; skips the dev-only Node download.
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund --ignore-scripts
COPY . .
RUN npm run build

FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund --ignore-scripts

FROM gcr.io/distroless/nodejs${NODE_VERSION}-debian12:nonroot
LABEL org.opencontainers.image.title="sidecar-monitor" \
      org.opencontainers.image.description="Operator and injected Prometheus exporter measuring each pod's own containers" \
      org.opencontainers.image.source="https://github.com/sidecar-monitor/sidecar-monitor" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
USER 65532:65532
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/bin/sidecar-monitor.js"]
CMD ["--help"]
