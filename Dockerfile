# syntax=docker/dockerfile:1.7
# One image, both commands: `sidecar-monitor operator` (the chart's Deployment) and
# `sidecar-monitor exporter` (injected by the operator with `args: [exporter, ...]`).
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t REPO:TAG --push .
#   docker buildx build --target sample-app -t REPO/sample-app:TAG .   # the example app
#
# Stages: `build` compiles the TypeScript to dist/ (architecture-independent JavaScript, so
# it runs on the build machine's platform); `deps` installs only production dependencies
# for the target platform; `sample-app` is the example app of examples/sample-app on the
# same runtime; the final (default) stage is distroless: Node 24, no shell, no package
# manager, non-root (uid/gid 65532). Everything in /app is owned by root and readable by
# all, because the exporter runs as the watched app's own uid (whatever it is) and never
# writes to its filesystem (the chart and the operator mount the root read-only).
#
# The base images are build arguments, so a build without a registry can use local images
# with the same layout (test/images/build-images.sh does, with buildah). NPM_CONFIG_CACHE and
# NPM_CONFIG_OFFLINE reach npm as environment variables: by default npm uses the cache mount
# and the registry; an offline build points them at a prepared cache instead.

ARG NODE_VERSION=24
ARG BUILD_IMAGE=node:${NODE_VERSION}-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs${NODE_VERSION}-debian12:nonroot

FROM --platform=$BUILDPLATFORM ${BUILD_IMAGE} AS build
ARG NPM_CONFIG_CACHE=/root/.npm
ARG NPM_CONFIG_OFFLINE=false
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the build needs only TypeScript; skips the dev-only Node download.
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund --ignore-scripts
COPY . .
RUN npm run build
# The sample app: plain node:http, no dependencies; an ES module like the project. Its
# image also carries the sample gRPC health server (node:http2 only) at /app/grpc/server.js.
RUN npx tsc -p examples/sample-app/tsconfig.build.json --outDir /sample-app && \
    npx tsc -p examples/sample-grpc/tsconfig.build.json --outDir /sample-app/grpc && \
    echo '{"type":"module"}' > /sample-app/package.json

FROM ${BUILD_IMAGE} AS deps
ARG NPM_CONFIG_CACHE=/root/.npm
ARG NPM_CONFIG_OFFLINE=false
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund --ignore-scripts

# Serves on 0.0.0.0:8080 (the kubelet probes the pod IP, the exporter loopback): /healthz
# and the load knobs. Runs as any uid on a read-only root: it writes nothing.
FROM ${RUNTIME_IMAGE} AS sample-app
LABEL org.opencontainers.image.title="sidecar-monitor-sample-app" \
      org.opencontainers.image.description="Example app for sidecar-monitor: /healthz and CPU, memory and latency knobs" \
      org.opencontainers.image.source="https://github.com/sidecar-monitor/sidecar-monitor" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
COPY --from=build /sample-app ./
# /spawn starts `sleep` children (process-count metrics); the runtime has glibc, so
# coreutils' sleep of the target platform is enough, and adds no shell.
COPY --from=deps /usr/bin/sleep /usr/local/bin/sleep
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/nodejs/bin/node", "/app/main.js"]
CMD ["--host=0.0.0.0", "--port=8080"]

FROM ${RUNTIME_IMAGE}
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
