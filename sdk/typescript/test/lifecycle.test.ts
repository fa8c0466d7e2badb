// Full order lifecycle through the generated TypeScript client (openapi-typescript + openapi-fetch).
// Needs a running server: run via `sdk/run-server.sh` (exports EATS_URL, EATS_JWT_SECRET, EATS_BIN).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
// Imports the package by its name: the installed one in a consumer project, the package itself
// (self-reference through its exports map) here.
import { createEatsClient, type EatsClient, type Schemas } from "eats-client";

const STORE = { lat: 37.5665, lng: 126.978 };
const HOME = { lat: 37.57, lng: 126.982 };

function mint(role: string): string {
  const bin = process.env.EATS_BIN ?? "../../target/debug/eats";
  return execFileSync(bin, ["token", "--role", role, "--sub", randomUUID()], { encoding: "utf8" }).trim();
}

function client(role: string): EatsClient {
  const baseUrl = process.env.EATS_URL;
  assert.ok(baseUrl, "EATS_URL is not set: run under sdk/run-server.sh");
  return createEatsClient({ baseUrl, token: mint(role) });
}

function must<T>(r: { data?: T; error?: unknown; response: Response }, status: number): T {
  assert.equal(r.response.status, status, `expected ${status}: ${JSON.stringify(r.error)}`);
  assert.ok(r.data !== undefined);
  return r.data;
}

async function poll<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function orderStatus(c: EatsClient, orderId: string, want: string): Promise<Schemas["OrderView"]> {
  return poll(`order ${orderId} to be ${want}`, async () => {
    const r = await c.GET("/orders/{order_id}", { params: { path: { order_id: orderId } } });
    return r.data?.status === want ? r.data : undefined;
  });
}

test("full order lifecycle", async () => {
  const owner = client("store_owner");
  const customer = client("customer");
  const rider = client("rider");

  const store = must(await owner.POST("/stores", { body: { name: "SDK TS Tteokbokki", address: "Seoul", location: STORE } }), 201);
  const storePath = { store_id: store.id };
  const item = must(
    await owner.POST("/stores/{store_id}/menu/items", { params: { path: storePath }, body: { name: "Tteokbokki", price: 5000 } }),
    201,
  );
  must(await owner.POST("/stores/{store_id}/open", { params: { path: storePath } }), 200);

  must(
    await customer.POST("/customers", { body: { name: "TS", phone: "010-1234-5678", address: "Home", location: HOME } }),
    201,
  );
  const order = must(
    await customer.POST("/orders", {
      params: { header: { "Idempotency-Key": randomUUID() } },
      body: { store_id: store.id, lines: [{ item_id: item.id, quantity: 3 }], deliver_to: { address: "Home", location: HOME } },
    }),
    201,
  );
  assert.equal(order.status, "awaiting_payment");
  const orderPath = { order_id: order.id };
  const paid = must(await customer.POST("/orders/{order_id}/payment", { params: { path: orderPath }, body: { payment_key: "tgen_x" } }), 200);
  assert.equal(paid.payment_status, "approved");
  assert.ok(["awaiting_payment", "paid"].includes(paid.order_status));
  const view = await orderStatus(customer, order.id, "paid");
  assert.equal(view.total, 15000);

  const both = { store_id: store.id, order_id: order.id };
  must(await owner.POST("/stores/{store_id}/orders/{order_id}/accept", { params: { path: both } }), 200);
  must(await owner.POST("/stores/{store_id}/orders/{order_id}/start-cooking", { params: { path: both } }), 200);
  must(await owner.POST("/stores/{store_id}/orders/{order_id}/finish-cooking", { params: { path: both } }), 200);

  must(await rider.PUT("/riders/me/location", { body: STORE }), 200);
  const job = await poll("the delivery job", async () => {
    const jobs = must(
      await rider.GET("/deliveries/available", { params: { query: { ...STORE, radius_m: 3000 } } }),
      200,
    );
    return jobs.items.find((j) => j.order_id === order.id);
  });
  const deliveryPath = { delivery_id: job.delivery_id };
  must(await rider.POST("/deliveries/{delivery_id}/claim", { params: { path: deliveryPath } }), 200);
  must(await rider.POST("/deliveries/{delivery_id}/pickup", { params: { path: deliveryPath } }), 200);

  await orderStatus(customer, order.id, "in_delivery");
  must(await customer.POST("/orders/{order_id}/confirm-delivery", { params: { path: orderPath } }), 200);
  const done = await orderStatus(customer, order.id, "delivered");
  assert.ok(done.rider_id);
});

test("errors are typed problems", async () => {
  const customer = client("customer");
  const r = await customer.GET("/orders/{order_id}", { params: { path: { order_id: randomUUID() } } });
  assert.equal(r.response.status, 404);
  assert.equal(r.error?.status, 404);
  assert.match(r.response.headers.get("content-type") ?? "", /problem\+json/);
});
