// Follows one session through an execx restart, with the ExecxClient of execx.ts (what the test drives):
//
//   node dist/follow.js TARGET KEY API_KEY SECRET_KEY PRICE
//
// Starts a session, inserts order A and waits for its `new` on the update stream, prints {"phase": "a-new"}
// and waits for a line on stdin (the test restarts execx meanwhile); then inserts order B (the client
// starts the detached session again by itself), cancels A, reads the stream until B is new and A
// cancelled, and prints {"done": true, "seqs": [...], "reconnects": n}.
import * as readline from "readline";
import { ExecxClient, Order } from "./execx";

async function main(): Promise<void> {
  const [target, key, apiKey, secretKey, price] = process.argv.slice(2);
  const x = new ExecxClient(target, key, 20_000);
  const run = Date.now().toString(36);
  const sid = await x.startSession(`ts-${run}`, "BINANCE-SPOT", apiKey, secretKey);
  const seen: Order[] = [];
  const stream = x.updates(sid, 1);
  const until = async (pred: (o: Order) => boolean): Promise<void> => {
    while (!seen.some(pred)) {
      const next = await stream.next();
      if (next.done) throw new Error("the update stream ended");
      seen.push(next.value);
    }
  };
  const a = await x.insert(sid, `a${run}`, "BTCUSDT", "buy", 0.001, Number(price), "PostOnly");
  await until((o) => o.clOrderId === a.clOrderId && o.orderStatus === "new");
  console.log(JSON.stringify({ phase: "a-new", session: sid }));
  await new Promise<void>((resolve) => readline.createInterface({ input: process.stdin }).once("line", () => resolve()));
  const b = await x.insert(sid, `b${run}`, "BTCUSDT", "buy", 0.001, Number(price) - 1);
  await x.cancel(sid, a.clOrderId);
  await until((o) => o.clOrderId === b.clOrderId && o.orderStatus === "new");
  await until((o) => o.clOrderId === a.clOrderId && o.orderStatus === "cancelled");
  await x.cancelAll(sid);
  console.log(JSON.stringify({
    done: true, seqs: seen.map((o) => o.seq), statuses: seen.map((o) => `${o.clOrderId[0]}:${o.orderStatus}`),
    reconnects: x.reconnects,
  }));
  await stream.return(undefined);
  x.close();
  process.exit(0);
}

main().catch((err) => {
  console.error(JSON.stringify({ error: String(err?.message ?? err), code: err?.code }));
  process.exit(1);
});
