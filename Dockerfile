# Petrel as one binary on a slim base. `deno compile` downloads Deno's
# runtime (denort), so this builds wherever that download works (not on the
# offline build machines of this project).
FROM denoland/deno:2.9.6 AS build
WORKDIR /src
COPY deno.json deno.lock ./
COPY main.ts petrel.yaml ./
COPY src ./src
COPY proto ./proto
RUN deno compile -A --include petrel.yaml --include proto \
    --include src/config/_yaml_worker_main.ts --output /petrel main.ts

# Two entry points in one image, as linkerd's since linkerd2 #14577: the
# proxy (`/petrel`, run as uid 2102) and the init container
# (`/petrel init --proxy-uid 2102 ...`, root with NET_ADMIN), which needs nft.
FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends nftables \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /petrel /petrel
EXPOSE 4140 4143 4191
# SIGTERM drains: in-flight requests finish, then exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/petrel"]
