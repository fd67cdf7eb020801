import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type * as grpc from "@grpc/grpc-js";
import type { DestinationProfile } from "../api/destination.ts";
import { profileAllowed, ProfileWatch } from "./profile.ts";

Deno.test("profileAllowed() matches names under the suffixes; '.' allows all", () => {
  const dflt = ["svc.cluster.local."];
  assert.equal(profileAllowed("web.ns.svc.cluster.local", dflt), true);
  assert.equal(profileAllowed("web.ns.svc.cluster.local.", dflt), true);
  assert.equal(profileAllowed("example.com", dflt), false);
  assert.equal(profileAllowed("xsvc.cluster.local", dflt), false);
  assert.equal(profileAllowed("example.com", ["."]), true);
  assert.equal(profileAllowed("web.test", ["test."]), true);
  assert.equal(profileAllowed("web.test", [".test"]), true);
});

class FakeCall extends EventEmitter {
  cancel(): void {
    this.emit("status", { code: 1, details: "Cancelled", metadata: {} });
  }
}

Deno.test("ProfileWatch keeps the last good profile over an invalid one, and none after NotFound", async () => {
  const calls: FakeCall[] = [];
  const client = {
    GetProfile() {
      const c = new FakeCall();
      calls.push(c);
      return c as unknown as grpc.ClientReadableStream<DestinationProfile>;
    },
  };
  using w = new ProfileWatch(client, "web.test:80", {
    backoff: { minMs: 1, maxMs: 1, jitter: 0 },
  });
  const good = {
    routes: [],
    dst_overrides: [{ authority: "v2.test:80", weight: 1 }],
    retry_budget: null,
    opaque_protocol: false,
    fully_qualified_name: "",
  };
  calls[0]!.emit("data", good);
  await w.started;
  const first = w.profile.get();
  assert.equal(first?.routes?.routes.length, 1);
  // A bad regex: rejected, the last profile stays.
  calls[0]!.emit("data", {
    ...good,
    routes: [{ condition: { path: { regex: "(" } }, response_classes: [] }],
  });
  assert.equal(w.profile.get(), first);
  calls[0]!.emit("status", { code: 5, details: "gone", metadata: {} });
  assert.equal(w.profile.get(), undefined);
});
