# Petrel as one binary on a slim base. `deno compile` downloads Deno's
# runtime (denort), so this builds wherever that download works (not on the
# offline build machines of this project).
FROM denoland/deno:2.9.6 AS build
WORKDIR /src
COPY deno.json deno.lock ./
COPY main.ts petrel.yaml ./
COPY src ./src
COPY proto ./proto
RUN deno compile -A --include petrel.yaml --include proto --output /petrel main.ts

FROM gcr.io/distroless/cc-debian12
COPY --from=build /petrel /petrel
EXPOSE 4140 4191
# SIGTERM drains: in-flight requests finish, then exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/petrel"]
