// A Node.js client of execx over gRPC (@grpc/grpc-js + @grpc/proto-loader + the protos in ../../proto).
//
//   npm ci && node example.js --target 127.0.0.1:35028 --key K --apiKey A --secretKey S \
//        [--exchange binance-spot] [--symbol BTCUSDT] [--price 90000] [--qty 0.001] [--timeoutMs 10000]
//
// Opens an order session, subscribes to its updates (from sequence 1, so nothing is missed), sends a
// limit buy, cancels it, and prints one JSON line per update received until the order is cancelled,
// then a summary line {"done": true, ...}. On failure it prints {"error": ..., "code": ...} on stderr
// and exits 1. Enums are printed in the seed's spelling ("pendingnew", "cancelled", ...), read from
// the `(execx.v1.json_value)` option of each enum value; --exchange takes either that spelling
// ("binance-spot") or the proto name ("EXCHANGE_BINANCE_SPOT").
"use strict";

const fs = require("fs");
const path = require("path");
const grpc = require("@grpc/grpc-js");
const loader = require("@grpc/proto-loader"); // also registers google/protobuf/descriptor.proto with protobufjs
const protobuf = require("protobufjs");

const PROTO_ROOT = path.join(__dirname, "..", "..", "proto");
const PROTO_FILE = "execx/v1/order_manager.proto";

function args() {
  const out = { exchange: "binance-spot", symbol: "BTCUSDT", price: "90000", qty: "0.001", timeoutMs: "10000" };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 1) {
    const m = /^--([A-Za-z]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error(`unexpected argument ${argv[i]}`);
    if (m[2] !== undefined) out[m[1]] = m[2];
    else if (i + 1 < argv.length) out[m[1]] = argv[++i];
    else throw new Error(`--${m[1]} needs a value`);
  }
  for (const k of ["target", "key", "apiKey", "secretKey"]) {
    if (!out[k]) throw new Error(`--${k} is required`);
  }
  for (const k of ["price", "qty", "timeoutMs"]) {
    if (!(Number(out[k]) > 0)) throw new Error(`--${k} must be a positive number, got ${out[k]}`);
  }
  return out;
}

// The wire spelling of every enum value: {"execx.v1.OrderStatus": {"ORDER_STATUS_NEW": "new", ...}, ...}
function wireNames() {
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    const local = path.join(PROTO_ROOT, target);
    return fs.existsSync(local) ? local : target; // google/protobuf/*: protobufjs' bundled copies
  };
  root.loadSync(PROTO_FILE);
  root.resolveAll();
  const out = {};
  const walk = (ns) => {
    for (const obj of ns.nestedArray || []) {
      if (obj instanceof protobuf.Enum) {
        const names = {};
        for (const [value, opts] of Object.entries(obj.valuesOptions || {})) {
          const key = Object.keys(opts).find((k) => k.endsWith("json_value)"));
          if (key) names[value] = opts[key];
        }
        out[obj.fullName.replace(/^\./, "")] = names;
      }
      walk(obj);
    }
  };
  walk(root);
  return out;
}

function unary(client, method, request, meta, deadlineMs) {
  return new Promise((resolve, reject) =>
    client[method](request, meta, { deadline: Date.now() + deadlineMs },
      (err, res) => (err ? reject(err) : resolve(res))));
}

async function main() {
  const a = args();
  const timeoutMs = Number(a.timeoutMs);
  const wire = wireNames();
  const status = (s) => wire["execx.v1.OrderStatus"][s] || s;
  const exchanges = wire["execx.v1.Exchange"];
  const exchange = Object.keys(exchanges).find((name) => name === a.exchange || exchanges[name] === a.exchange);
  if (!exchange) throw new Error(`unknown --exchange ${a.exchange}`);

  const def = loader.loadSync(PROTO_FILE, {
    includeDirs: [PROTO_ROOT], keepCase: false, enums: String, longs: String, defaults: true, oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def).execx.v1;
  const client = new pkg.OrderManagerService(a.target, grpc.credentials.createInsecure());
  const meta = new grpc.Metadata();
  meta.set("x-api-key", a.key);

  // Session ids can never be reused (also across restarts of execx): make them unique per run.
  const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const sessionId = `node-${run}`;
  const clOrderId = `node${run}`;
  let stream = null;
  let timer = null;
  try {
    await unary(client, "StartOrderHandler", {
      sessionId, exchangeKey: { apiKey: a.apiKey, secretKey: a.secretKey, exchange },
    }, meta, timeoutMs);

    const seen = [];
    const finished = new Promise((resolve, reject) => {
      stream = client.SubscribeUpdates({ sessionId, fromSeq: 1 }, meta); // replay from the start: no race
      stream.on("data", (msg) => {
        const t = msg.transaction;
        if (t.clOrderId !== clOrderId) return;
        seen.push(status(t.orderStatus));
        console.log(JSON.stringify({
          clOrderId: t.clOrderId, exchOrderId: t.exchOrderId, status: status(t.orderStatus), seq: Number(t.seq),
          price: t.price, qty: t.qty, remainingQty: t.remainingQty, ...(t.message ? { message: t.message } : {}),
        }));
        if (t.orderStatus === "ORDER_STATUS_CANCELLED") resolve();
      });
      stream.on("error", (err) => (err.code === grpc.status.CANCELLED ? resolve() : reject(err)));
      stream.on("end", () => reject(new Error("update stream ended before the order was cancelled")));
    });
    // Attach the timeout now, so an early stream error is handled (never an unhandled rejection).
    const bounded = Promise.race([finished, new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no cancelled update within ${timeoutMs} ms`)), timeoutMs);
    })]);
    bounded.catch(() => {});

    const sent = await unary(client, "SendOrder", {
      sessionId, clOrderId, symbol: a.symbol, price: Number(a.price), qty: Number(a.qty),
      orderType: "ORDER_TYPE_LIMIT", transactionType: "TRANSACTION_TYPE_INSERT", tif: "TIME_IN_FORCE_GTC",
      side: "SIDE_BUY",
    }, meta, timeoutMs);
    const cancelled = await unary(client, "SendOrder", {
      sessionId, clOrderId, symbol: a.symbol, transactionType: "TRANSACTION_TYPE_DELETE",
    }, meta, timeoutMs);
    await bounded;
    console.log(JSON.stringify({
      done: true, sessionId, clOrderId, exchange: exchanges[exchange],
      ackStatus: status(sent.order.orderStatus), cancelStatus: status(cancelled.order.orderStatus), seen,
    }));
  } finally {
    clearTimeout(timer);
    if (stream) stream.cancel();
    client.close();
  }
}

main().catch((err) => {
  console.error(JSON.stringify({
    error: String(err && err.details ? err.details : (err && err.message) || err), code: err && err.code,
  }));
  process.exit(1);
});
