/**
 * The petrel.test.Echo service (echo.proto) and its client on grpc-js, in
 * process: the second, independent gRPC implementation of the tests.
 *
 * No linkerd counterpart (linkerd2-proxy's tests use tonic in-process).
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import {
  ECHO_PROTO_PATH,
  ERROR_CALL_CODE,
  FAIL_MESSAGE,
  type GrpcCallResult,
  type GrpcResults,
  STREAM_ERROR_CALL_CODE,
} from "./grpc_echo.ts";

const IMPL = "grpc-js";

interface EchoRequest {
  message: string;
  count: number;
  fail_code: number;
}

interface EchoReply {
  message: string;
  index: number;
}

type EchoClient = grpc.Client & {
  Unary(
    req: Partial<EchoRequest>,
    md: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, reply?: EchoReply) => void,
  ): grpc.ClientUnaryCall;
  ServerStream(
    req: Partial<EchoRequest>,
    md: grpc.Metadata,
    opts: grpc.CallOptions,
  ): grpc.ClientReadableStream<EchoReply>;
  ClientStream(
    md: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, reply?: EchoReply) => void,
  ): grpc.ClientWritableStream<Partial<EchoRequest>>;
  Bidi(
    md: grpc.Metadata,
    opts: grpc.CallOptions,
  ): grpc.ClientDuplexStream<Partial<EchoRequest>, EchoReply>;
};

interface EchoPackage {
  service: grpc.ServiceDefinition;
  new (
    target: string,
    creds: grpc.ChannelCredentials,
    options?: grpc.ChannelOptions,
  ): EchoClient;
}

let echoPackage: EchoPackage | undefined;

function loadEcho(): EchoPackage {
  if (!echoPackage) {
    const def = protoLoader.loadSync(ECHO_PROTO_PATH, {
      keepCase: true,
      longs: Number,
      defaults: true,
    });
    const root = grpc.loadPackageDefinition(def) as unknown as {
      petrel: { test: { Echo: EchoPackage } };
    };
    echoPackage = root.petrel.test.Echo;
  }
  return echoPackage;
}

function md(pairs: Record<string, string>): grpc.Metadata {
  const m = new grpc.Metadata();
  for (const [k, v] of Object.entries(pairs)) m.set(k, v);
  return m;
}

function failure(code: number): Partial<grpc.StatusObject> {
  return {
    code,
    details: FAIL_MESSAGE,
    metadata: md({ "x-trailer": IMPL, "x-fail-detail": "yes" }),
  };
}

const echoHandlers: grpc.UntypedServiceImplementation = {
  Unary(
    call: grpc.ServerUnaryCall<EchoRequest, EchoReply>,
    callback: grpc.sendUnaryData<EchoReply>,
  ) {
    const req = call.request;
    if (req.fail_code) {
      // no initial metadata: the failure goes out trailers-only
      callback(failure(req.fail_code));
      return;
    }
    call.sendMetadata(md({ "x-server": IMPL }));
    callback(
      null,
      { message: req.message, index: 0 },
      md({ "x-trailer": IMPL }),
    );
  },
  ServerStream(call: grpc.ServerWritableStream<EchoRequest, EchoReply>) {
    const req = call.request;
    call.sendMetadata(md({ "x-server": IMPL }));
    for (let i = 0; i < req.count; i++) {
      call.write({ message: req.message, index: i });
    }
    if (req.fail_code) {
      call.emit("error", failure(req.fail_code));
      return;
    }
    call.end(md({ "x-trailer": IMPL }));
  },
  ClientStream(
    call: grpc.ServerReadableStream<EchoRequest, EchoReply>,
    callback: grpc.sendUnaryData<EchoReply>,
  ) {
    call.sendMetadata(md({ "x-server": IMPL }));
    const messages: string[] = [];
    let failCode = 0;
    call.on("data", (req: EchoRequest) => {
      messages.push(req.message);
      failCode ||= req.fail_code;
    });
    call.on("error", () => {}); // the client went away; nothing to answer
    call.on("end", () => {
      if (failCode) {
        callback(failure(failCode));
        return;
      }
      callback(
        null,
        { message: messages.join(","), index: 0 },
        md({ "x-trailer": IMPL }),
      );
    });
  },
  Bidi(call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) {
    call.sendMetadata(md({ "x-server": IMPL }));
    let index = 0;
    let failed = false;
    call.on("data", (req: EchoRequest) => {
      if (failed) return;
      if (req.fail_code) {
        failed = true;
        call.emit("error", failure(req.fail_code));
        return;
      }
      call.write({ message: req.message, index: index++ });
    });
    call.on("end", () => {
      if (!failed) call.end(md({ "x-trailer": IMPL }));
    });
  },
};

/** A running in-process grpc-js Echo server. */
export interface GrpcJsServer {
  port: number;
  /** Ends every call and connection and stops listening. */
  close(): Promise<void>;
}

/**
 * Starts the Echo service on grpc-js at 127.0.0.1, port 0 (`x-server` is
 * "grpc-js").
 */
export function startGrpcJsServer(): Promise<GrpcJsServer> {
  const Echo = loadEcho();
  const server = new grpc.Server();
  server.addService(Echo.service, echoHandlers);
  return new Promise((resolve, reject) => {
    server.bindAsync(
      "127.0.0.1:0",
      grpc.ServerCredentials.createInsecure(),
      (err, port) => {
        if (err) {
          server.forceShutdown();
          reject(err);
          return;
        }
        resolve({
          port,
          close: () =>
            new Promise<void>((done) => {
              server.forceShutdown();
              // let grpc-js finish closing its listener and sockets
              setTimeout(done, 10);
            }),
        });
      },
    );
  });
}

function xEntries(m: grpc.Metadata | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!m) return out;
  for (const [k, v] of Object.entries(m.getMap())) {
    if (k.startsWith("x-")) out[k] = typeof v === "string" ? v : v.toString();
  }
  return out;
}

class CallRecorder {
  headers: Record<string, string> = {};
  replies: EchoReply[] = [];

  /**
   * Resolves with the call's outcome once its status came and, for calls
   * with a response stream, the stream ended: grpc-js may emit "status"
   * before the last buffered "data".
   */
  watch(
    call: {
      on(ev: "metadata", f: (m: grpc.Metadata) => void): unknown;
      on(ev: "status", f: (s: grpc.StatusObject) => void): unknown;
      on(ev: "end" | "close", f: () => void): unknown;
    },
    responseStream: boolean,
  ): Promise<GrpcCallResult> {
    call.on("metadata", (m: grpc.Metadata) => {
      this.headers = xEntries(m);
    });
    const ended = responseStream
      ? new Promise<void>((resolve) => {
        call.on("end", resolve);
        call.on("close", resolve);
      })
      : Promise.resolve();
    const status = new Promise<grpc.StatusObject>((resolve) => {
      call.on("status", resolve);
    });
    return Promise.all([status, ended]).then(([s]) => ({
      code: s.code,
      details: s.code === 0 ? "" : s.details,
      headers: this.headers,
      trailers: xEntries(s.metadata),
      messages: this.replies.map((r) => r.message),
      indexes: this.replies.map((r) => r.index),
    }));
  }
}

function unary(
  client: EchoClient,
  req: Partial<EchoRequest>,
  opts: grpc.CallOptions,
): Promise<GrpcCallResult> {
  const rec = new CallRecorder();
  let replied!: () => void;
  const done = new Promise<void>((r) => (replied = r));
  const call = client.Unary(
    req,
    md({ "x-client": IMPL }),
    opts,
    (_e, reply) => {
      if (reply) rec.replies.push(reply);
      replied();
    },
  );
  return rec.watch(call, false).then(async (res) => {
    await done;
    return {
      ...res,
      messages: rec.replies.map((r) => r.message),
      indexes: rec.replies.map((r) => r.index),
    };
  });
}

function serverStream(
  client: EchoClient,
  req: Partial<EchoRequest>,
  opts: grpc.CallOptions,
): Promise<GrpcCallResult> {
  const rec = new CallRecorder();
  const call = client.ServerStream(req, md({ "x-client": IMPL }), opts);
  call.on("data", (r: EchoReply) => rec.replies.push(r));
  call.on("error", () => {}); // reported through "status"
  return rec.watch(call, true);
}

async function clientStream(
  client: EchoClient,
  messages: string[],
  opts: grpc.CallOptions,
): Promise<GrpcCallResult> {
  const rec = new CallRecorder();
  let replied!: () => void;
  const done = new Promise<void>((r) => (replied = r));
  const call = client.ClientStream(
    md({ "x-client": IMPL }),
    opts,
    (_e, reply) => {
      if (reply) rec.replies.push(reply);
      replied();
    },
  );
  const status = rec.watch(call, false);
  for (const message of messages) call.write({ message });
  call.end();
  const res = await status;
  await done;
  return {
    ...res,
    messages: rec.replies.map((r) => r.message),
    indexes: rec.replies.map((r) => r.index),
  };
}

async function bidi(
  client: EchoClient,
  messages: string[],
  opts: grpc.CallOptions,
): Promise<GrpcCallResult> {
  const rec = new CallRecorder();
  const call = client.Bidi(md({ "x-client": IMPL }), opts);
  call.on("error", () => {}); // reported through "status"
  const status = rec.watch(call, true);
  let waiter: (() => void) | undefined;
  call.on("data", (r: EchoReply) => {
    rec.replies.push(r);
    waiter?.();
  });
  let ended = false;
  void status.then(() => {
    ended = true;
    waiter?.();
  });
  // ping-pong: each request waits for the reply to the one before
  for (const message of messages) {
    const want = rec.replies.length + 1;
    call.write({ message });
    while (rec.replies.length < want && !ended) {
      await new Promise<void>((r) => (waiter = r));
    }
    waiter = undefined;
    if (ended) break;
  }
  call.end();
  return await status;
}

/**
 * Runs every Echo call (see {@linkcode GrpcResults}) with a grpc-js client
 * against `target` (host:port). `authority` sets the channel option
 * `grpc.default_authority`, so the :authority names a logical service while
 * the connection goes to `target` (e.g. Petrel's 127.0.0.1:4140).
 */
export async function grpcJsCalls(
  target: string,
  opts: { authority?: string; timeoutMs?: number } = {},
): Promise<GrpcResults> {
  const Echo = loadEcho();
  const options: grpc.ChannelOptions = {};
  if (opts.authority) options["grpc.default_authority"] = opts.authority;
  const client = new Echo(target, grpc.credentials.createInsecure(), options);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const callOpts = (): grpc.CallOptions => ({
    deadline: new Date(Date.now() + timeoutMs),
  });
  try {
    return {
      client: IMPL,
      unary: await unary(client, { message: "hello" }, callOpts()),
      serverStream: await serverStream(
        client,
        { message: "tick", count: 3 },
        callOpts(),
      ),
      clientStream: await clientStream(client, ["a", "b", "c"], callOpts()),
      bidi: await bidi(client, ["x", "y", "z"], callOpts()),
      error: await unary(
        client,
        { message: "boom", fail_code: ERROR_CALL_CODE },
        callOpts(),
      ),
      streamError: await serverStream(
        client,
        { message: "part", count: 2, fail_code: STREAM_ERROR_CALL_CODE },
        callOpts(),
      ),
    };
  } finally {
    client.close();
  }
}
