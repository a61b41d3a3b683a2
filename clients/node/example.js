// A Node.js client of execx over gRPC (@grpc/grpc-js + the protos in ../../proto).
//
//   node example.js --target 127.0.0.1:35028 --key K --apiKey A --secretKey S \
//        [--exchange EXCHANGE_BINANCE_SPOT] [--symbol BTCUSDT] [--price 90000] [--qty 0.001]
//
// Opens an order session, subscribes to its updates, sends a limit buy, cancels it, and prints one
// JSON line per update received, then a summary line {"done": true, ...}.
"use strict";

const path = require("path");
const grpc = require("@grpc/grpc-js");
const loader = require("@grpc/proto-loader");

function args() {
  const out = { exchange: "EXCHANGE_BINANCE_SPOT", symbol: "BTCUSDT", price: "90000", qty: "0.001" };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) out[argv[i].replace(/^--/, "")] = argv[i + 1];
  for (const k of ["target", "key", "apiKey", "secretKey"]) {
    if (!out[k]) throw new Error(`--${k} is required`);
  }
  return out;
}

function unary(client, method, request, meta) {
  return new Promise((resolve, reject) =>
    client[method](request, meta, (err, res) => (err ? reject(err) : resolve(res))));
}

async function main() {
  const a = args();
  const root = path.join(__dirname, "..", "..", "proto");
  const def = loader.loadSync(path.join(root, "execx/v1/order_manager.proto"), {
    includeDirs: [root], keepCase: false, enums: String, longs: String, defaults: true, oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def).execx.v1;
  const client = new pkg.OrderManagerService(a.target, grpc.credentials.createInsecure());
  const meta = new grpc.Metadata();
  meta.set("x-api-key", a.key);

  const sessionId = `node-${Date.now()}`;
  await unary(client, "StartOrderHandler", {
    sessionId,
    exchangeKey: { apiKey: a.apiKey, secretKey: a.secretKey, exchange: a.exchange },
  }, meta);

  const clOrderId = `node${Date.now()}`;
  const seen = [];
  const finished = new Promise((resolve, reject) => {
    const stream = client.SubscribeUpdates({ sessionId, fromSeq: 1 }, meta); // replay from the start: no race
    stream.on("data", (msg) => {
      const t = msg.transaction;
      seen.push(t.orderStatus);
      console.log(JSON.stringify({ clOrderId: t.clOrderId, status: t.orderStatus, seq: t.seq, price: t.price }));
      if (t.orderStatus === "ORDER_STATUS_CANCELLED") {
        stream.cancel();
        resolve();
      }
    });
    stream.on("error", (err) => (err.code === grpc.status.CANCELLED ? resolve() : reject(err)));
  });

  const sent = await unary(client, "SendOrder", {
    sessionId, clOrderId, symbol: a.symbol, price: Number(a.price), qty: Number(a.qty),
    orderType: "ORDER_TYPE_LIMIT", transactionType: "TRANSACTION_TYPE_INSERT", tif: "TIME_IN_FORCE_GTC",
    side: "SIDE_BUY",
  }, meta);
  await unary(client, "SendOrder", {
    sessionId, clOrderId, symbol: a.symbol, transactionType: "TRANSACTION_TYPE_DELETE",
  }, meta);
  await Promise.race([finished, new Promise((_, rej) => setTimeout(() => rej(new Error("timeout")), 10000))]);
  console.log(JSON.stringify({ done: true, sessionId, clOrderId, ackStatus: sent.order.orderStatus, seen }));
  client.close();
}

main().catch((err) => {
  console.error(JSON.stringify({ error: String(err && err.message ? err.message : err), code: err.code }));
  process.exit(1);
});
