/**
 * The Worker side of `parseConfigYamlOffThread()`: parses one config file
 * and posts back the config and its JSON, or the error's class and message.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { parseConfigYaml } from "./yaml.ts";
import type { YamlWorkerReply, YamlWorkerRequest } from "./yaml_worker.ts";

self.onmessage = (event: MessageEvent<YamlWorkerRequest>) => {
  const { text, source } = event.data;
  let reply: YamlWorkerReply;
  try {
    const config = parseConfigYaml(text, source);
    reply = { ok: true, config, json: JSON.stringify(config) };
  } catch (err) {
    reply = err instanceof Error
      ? { ok: false, name: err.name, message: err.message }
      : { ok: false, name: "Error", message: String(err) };
  }
  self.postMessage(reply);
};
