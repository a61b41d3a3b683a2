// A thin TypeScript client of execx over gRPC (@grpc/grpc-js), mirroring the Python execx_client:
// sessions, orders, queries, and an update stream that resumes after a drop or an execx restart from
// the sequence number after the last one it delivered. Types and stubs are generated from ../../proto by
// `npm run gen` (proto-loader-gen-types, into src/gen); enums are the API's wire strings ("binance-spot",
// "postonly", "partiallyfilled"), read from the `(execx.v1.json_value)` option of each enum value, and
// accepted in any case on input. Every failure is an ExecxError with a grpc `status` code.

import * as fs from "fs";
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import * as loader from "@grpc/proto-loader";
import * as protobuf from "protobufjs";

import type { ProtoGrpcType } from "./gen/order_manager";
import type { OrderManagerServiceClient } from "./gen/execx/v1/OrderManagerService";
import type { OrderTransaction__Output } from "./gen/execx/v1/OrderTransaction";
import type { SendOrderRequest } from "./gen/execx/v1/SendOrderRequest";
import type { SessionInfo__Output } from "./gen/execx/v1/SessionInfo";
import type { SubscribeUpdatesResponse__Output } from "./gen/execx/v1/SubscribeUpdatesResponse";

const PROTO_ROOT = path.join(__dirname, "..", "..", "..", "proto");
const PROTO_FILE = "execx/v1/order_manager.proto";
/** Codes after which a stream is resumed (anything else ends it with an ExecxError). */
const RESUMABLE = new Set([
  grpc.status.UNAVAILABLE, grpc.status.CANCELLED, grpc.status.INTERNAL, grpc.status.UNKNOWN,
  grpc.status.RESOURCE_EXHAUSTED, grpc.status.DEADLINE_EXCEEDED,
]);

/** An order update with its enums as wire strings and its 64-bit integers as numbers. */
export interface Order {
  seq: number; sessionId: string; clOrderId: string; exchOrderId: string; exchange: string; symbol: string;
  side: string; orderType: string; tif: string; orderStatus: string; transactionType: string;
  price: number; qty: number; cumulativeFilledQty: number; executedQty: number; remainingQty: number;
  tradeId: string; tradeLiquidity: string; fillPrice: number; fee: number; feeCurrency: string;
  message: string; triggerId: string; localTime: number; exchTime: number;
}

export interface Session { sessionId: string; exchange: string; active: boolean; lastSeq: number }

export class ExecxError extends Error {
  constructor(readonly code: grpc.status, message: string) {
    super(`${grpc.status[code]}: ${message}`);
  }
}

/** Wire spelling of every enum value: {"execx.v1.Side": {"SIDE_BUY": "buy", ...}, ...}. */
function wireNames(): Record<string, Record<string, string>> {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    const local = path.join(PROTO_ROOT, target);
    return fs.existsSync(local) ? local : target; // google/protobuf/*: protobufjs' bundled copies
  };
  root.loadSync(PROTO_FILE);
  root.resolveAll();
  const out: Record<string, Record<string, string>> = {};
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const obj of ns.nestedArray) {
      if (obj instanceof protobuf.Enum) {
        const names: Record<string, string> = {};
        for (const [value, opts] of Object.entries(obj.valuesOptions ?? {})) {
          const key = Object.keys(opts).find((k) => k.endsWith("json_value)"));
          if (key) names[value] = String(opts[key]);
        }
        out[obj.fullName.replace(/^\./, "")] = names;
      }
      if (obj instanceof protobuf.Namespace) walk(obj);
    }
  };
  walk(root);
  return out;
}

/** TLS to an execx started with --tlsCert: PEM files' paths or PEM contents (Buffer). `ca` the CA that
 * signed execx's certificate (absent: the system's CAs), `cert` and `key` a client certificate for mTLS,
 * `serverName` the name the certificate is checked against when it is not the dialled host. */
export interface TlsOptions { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; serverName?: string }

function pem(v: string | Buffer | undefined): Buffer | null {
  return v === undefined ? null : typeof v === "string" ? fs.readFileSync(v) : v;
}

export class ExecxClient {
  /** How many times a stream of this client resumed. */
  reconnects = 0;
  private readonly client: OrderManagerServiceClient;
  private readonly wire = wireNames();
  /** The StartOrderHandler requests this client made (keys in memory only), to start them again. */
  private readonly sessions = new Map<string, object>();

  /** `target` "host:port" of execx's gRPC port; `key` its service key; `timeoutMs` per call; `tls` to
   * connect over TLS (plaintext without it). */
  constructor(target: string, private readonly key: string, private readonly timeoutMs = 10_000, tls?: TlsOptions) {
    const def = loader.loadSync(PROTO_FILE, {
      includeDirs: [PROTO_ROOT], keepCase: false, enums: String, longs: String, defaults: true, oneofs: true,
    });
    const pkg = grpc.loadPackageDefinition(def) as unknown as ProtoGrpcType;
    if (tls && (tls.cert === undefined) !== (tls.key === undefined)) {
      throw new ExecxError(grpc.status.INVALID_ARGUMENT, "tls.cert and tls.key: a client certificate needs both");
    }
    const creds = tls
      ? grpc.credentials.createSsl(pem(tls.ca), pem(tls.key), pem(tls.cert))
      : grpc.credentials.createInsecure();
    this.client = new pkg.execx.v1.OrderManagerService(target, creds, {
      "grpc.initial_reconnect_backoff_ms": 100, "grpc.max_reconnect_backoff_ms": 2000,
      ...(tls?.serverName ? { "grpc.ssl_target_name_override": tls.serverName } : {}),
    });
  }

  close(): void {
    this.client.close();
  }

  /** The enum value name of a wire string, any case ("BUY" -> "SIDE_BUY"). */
  private enumName(type: string, value: string, field: string): string {
    const names = this.wire[`execx.v1.${type}`];
    const hit = Object.keys(names).find((n) => names[n].toLowerCase() === value.toLowerCase() || n === value);
    if (!hit) {
      throw new ExecxError(grpc.status.INVALID_ARGUMENT, `${field}: ${JSON.stringify(value)} is not one of ${
        Object.values(names).sort().join(", ")}`);
    }
    return hit;
  }

  private wireName(type: string, name: string): string {
    return this.wire[`execx.v1.${type}`][name] ?? "";
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata({ waitForReady: true }); // a call made while execx restarts waits for it
    md.set("x-api-key", this.key);
    return md;
  }

  /** One unary call, made again after UNAVAILABLE until its deadline (every RPC here is idempotent). */
  private async unary<Req, Res>(method: string, request: Req, timeoutMs = this.timeoutMs): Promise<Res> {
    const deadline = Date.now() + timeoutMs;
    let backoff = 50;
    for (;;) {
      try {
        return await new Promise<Res>((resolve, reject) => {
          const fn = (this.client as unknown as Record<string, Function>)[method].bind(this.client);
          fn(request, this.metadata(), { deadline }, (err: grpc.ServiceError | null, res: Res) =>
            err ? reject(err) : resolve(res));
        });
      } catch (e) {
        const err = e as grpc.ServiceError;
        if (err.code !== grpc.status.UNAVAILABLE || Date.now() + backoff >= deadline) {
          throw new ExecxError(err.code ?? grpc.status.UNKNOWN, err.details ?? String(err));
        }
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(2000, backoff * 2);
      }
    }
  }

  private order(t: OrderTransaction__Output): Order {
    return {
      seq: Number(t.seq), sessionId: t.sessionId, clOrderId: t.clOrderId, exchOrderId: t.exchOrderId,
      exchange: this.wireName("Exchange", t.exchange), symbol: t.symbol, side: this.wireName("Side", t.side),
      orderType: this.wireName("OrderType", t.orderType), tif: this.wireName("TimeInForce", t.tif),
      orderStatus: this.wireName("OrderStatus", t.orderStatus),
      transactionType: this.wireName("TransactionType", t.transactionType),
      price: t.price, qty: t.qty, cumulativeFilledQty: t.cumulativeFilledQty, executedQty: t.executedQty,
      remainingQty: t.remainingQty, tradeId: t.tradeId, tradeLiquidity: this.wireName("TradeLiquidity", t.tradeLiquidity),
      fillPrice: t.fillPrice, fee: t.fee, feeCurrency: t.feeCurrency, message: t.message, triggerId: t.triggerId,
      localTime: Number(t.localTime), exchTime: Number(t.exchTime),
    };
  }

  /** StartOrderHandler: open (or, with the same keys, re-attach to) an order session. */
  async startSession(sessionId: string, exchange: string, apiKey: string, secretKey: string, passphrase = ""):
    Promise<string> {
    const request = {
      sessionId, exchangeKey: { apiKey, secretKey, passphrase, exchange: this.enumName("Exchange", exchange, "exchange") },
    };
    const res = await this.unary<object, { sessionId: string }>("StartOrderHandler", request);
    this.sessions.set(sessionId, request);
    return res.sessionId;
  }

  async stopSession(sessionId: string, cancelOpenOrders = false): Promise<number> {
    this.sessions.delete(sessionId);
    const res = await this.unary<object, { cancelledOrders: number }>("StopOrderHandler", { sessionId, cancelOpenOrders });
    return res.cancelledOrders;
  }

  async listSessions(): Promise<Session[]> {
    const res = await this.unary<object, { sessions: SessionInfo__Output[] }>("ListSessions", {});
    return res.sessions.map((s) => ({
      sessionId: s.sessionId, exchange: this.wireName("Exchange", s.exchange), active: s.active, lastSeq: Number(s.lastSeq),
    }));
  }

  private async send(request: SendOrderRequest): Promise<Order> {
    const call = () => this.unary<SendOrderRequest, { order: OrderTransaction__Output }>("SendOrder", request);
    try {
      return this.order((await call()).order);
    } catch (e) {
      // execx restarted and the session waits to be started again: start it with its keys, send once more
      const start = this.sessions.get(request.sessionId ?? "");
      if (!(e instanceof ExecxError) || e.code !== grpc.status.FAILED_PRECONDITION || !/is detached/.test(e.message)
        || start === undefined) throw e;
      await this.unary("StartOrderHandler", start);
      return this.order((await call()).order);
    }
  }

  /** A new order; its first update (pendingnew, new, filled, rejected…). */
  insert(sessionId: string, clOrderId: string, symbol: string, side: string, qty: number, price?: number,
    orderType = "limit", tif = "gtc"): Promise<Order> {
    return this.send({
      sessionId, clOrderId, symbol, qty, ...(price === undefined ? {} : { price }),
      side: this.enumName("Side", side, "side") as SendOrderRequest["side"],
      orderType: this.enumName("OrderType", orderType, "orderType") as SendOrderRequest["orderType"],
      tif: this.enumName("TimeInForce", tif, "tif") as SendOrderRequest["tif"],
      transactionType: "TRANSACTION_TYPE_INSERT",
    });
  }

  amend(sessionId: string, clOrderId: string, change: { qty?: number; price?: number }): Promise<Order> {
    return this.send({ sessionId, clOrderId, ...change, transactionType: "TRANSACTION_TYPE_UPDATE" });
  }

  cancel(sessionId: string, clOrderId: string): Promise<Order> {
    return this.send({ sessionId, clOrderId, transactionType: "TRANSACTION_TYPE_DELETE" });
  }

  pull(sessionId: string, symbol: string): Promise<Order> {
    return this.send({ sessionId, symbol, transactionType: "TRANSACTION_TYPE_PULL" });
  }

  async cancelAll(sessionId: string, symbol = ""): Promise<string[]> {
    return (await this.unary<object, { clOrderIds: string[] }>("CancelAllOrders", { sessionId, symbol })).clOrderIds;
  }

  async getOrder(sessionId: string, clOrderId: string): Promise<Order> {
    return this.order((await this.unary<object, { order: OrderTransaction__Output }>("GetOrder", { sessionId, clOrderId })).order);
  }

  async listOrders(sessionId: string, openOnly = false, symbol = ""): Promise<Order[]> {
    const res = await this.unary<object, { orders: OrderTransaction__Output[] }>("ListOrders", { sessionId, openOnly, symbol });
    return res.orders.map((o) => this.order(o));
  }

  async getPosition(sessionId: string, symbol: string): Promise<number> {
    return (await this.unary<object, { position: number }>("GetPosition", { sessionId, symbol })).position;
  }

  /**
   * Every order update of the session from `fromSeq` (default 1), forever: after a drop or an execx
   * restart the stream is opened again from the sequence number after the last one delivered (no gap,
   * no duplicate). `onReconnect(fromSeq)` is called each time. Break out of the loop to stop.
   */
  async *updates(sessionId: string, fromSeq = 1, onReconnect?: (fromSeq: number) => void): AsyncGenerator<Order> {
    let last = fromSeq - 1;
    let backoff = 50;
    for (let first = true; ; first = false) {
      if (!first) {
        this.reconnects += 1;
        onReconnect?.(last + 1);
      }
      const call = this.client.SubscribeUpdates({ sessionId, fromSeq: last + 1 }, this.metadata());
      try {
        for await (const msg of call as AsyncIterable<SubscribeUpdatesResponse__Output>) {
          backoff = 50;
          const t = msg.transaction;
          const seq = Number(t?.seq ?? msg.riskEvent?.seq ?? msg.algorithmEvent?.seq ?? 0);
          if (seq <= last) continue; // delivered before the stream broke
          last = seq;
          if (t) yield this.order(t);
        }
      } catch (e) {
        const err = e as grpc.ServiceError;
        if (!RESUMABLE.has(err.code)) throw new ExecxError(err.code, err.details ?? String(err));
      } finally {
        call.cancel();
      }
      await new Promise((r) => setTimeout(r, backoff * (0.5 + Math.random() / 2)));
      backoff = Math.min(2000, backoff * 2);
    }
  }
}
