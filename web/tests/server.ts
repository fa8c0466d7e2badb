// The real `eats serve` (embedded, a fresh data folder, a free port) for browser tests, and
// a few SDK calls to set up scenes the test is not about.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import AxeBuilder from "@axe-core/playwright";
import { expect, type Page } from "@playwright/test";
import { createEatsClient, type EatsClient } from "eats-client";

const BIN =
  process.env.EATS_BIN ?? fileURLToPath(new URL("../../target/debug/eats", import.meta.url));

export interface Server {
  base: string;
  dataDir: string;
  port: number;
  stop: () => Promise<void>;
  restart: () => Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("port")),
      );
    });
  });
}

function launch(dataDir: string, port: number, env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(BIN, ["serve"], {
    env: {
      PATH: process.env.PATH ?? "",
      EATS_DATA_DIR: dataDir,
      EATS_LISTEN: `127.0.0.1:${port}`,
      EATS_LOG_FORMAT: "json",
      EATS_DEMO_DATA: "0",
      ...env,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  return new Promise((resolve, reject) => {
    let buffer = "";
    const timer = setTimeout(
      () => reject(new Error(`eats serve did not listen: ${buffer}`)),
      60_000,
    );
    child.once("exit", (code) => reject(new Error(`eats serve exited (${code}): ${buffer}`)));
    child.stderr?.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      if (buffer.includes('"eats is listening"')) {
        clearTimeout(timer);
        child.stderr?.removeAllListeners("data");
        child.stderr?.resume();
        child.removeAllListeners("exit");
        resolve(child);
      }
    });
  });
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

/** Starts eats on a fresh data folder; `restart` stops it and starts it again on the same
 * folder and port, as an operator restarting the service would. */
export async function startServer(env: Record<string, string> = {}): Promise<Server> {
  const dataDir = mkdtempSync(join(tmpdir(), "eats-web-"));
  const port = await freePort();
  let child = await launch(dataDir, port, env);
  return {
    base: `http://127.0.0.1:${port}`,
    dataDir,
    port,
    restart: async () => {
      await terminate(child);
      child = await launch(dataDir, port, env);
    },
    stop: async () => {
      await terminate(child);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export type Role = "customer" | "store_owner" | "rider" | "admin";

/** A signed-in SDK client, through the development sign-in. */
export async function apiAs(server: Server, role: Role, name: string): Promise<EatsClient> {
  const { data } = await createEatsClient({ baseUrl: server.base }).POST("/dev/login", {
    body: { role, name },
  });
  if (!data) throw new Error("dev login");
  return createEatsClient({ baseUrl: server.base, token: data.token });
}

/** An open store at Seoul City Hall with one 4,500원 item: (store id, item name). */
export async function openStore(owner: EatsClient, name: string): Promise<string> {
  const location = { lat: 37.5665, lng: 126.978 };
  const { data: store } = await owner.POST("/stores", {
    body: { name, address: "서울 중구 세종대로 110", location },
  });
  if (!store) throw new Error("store");
  const params = { path: { store_id: store.id } };
  await owner.POST("/stores/{store_id}/menu/items", {
    params,
    body: { name: "참치김밥", price: 4500 },
  });
  await owner.POST("/stores/{store_id}/open", { params });
  return store.id;
}

/** Signs in through the app's development sign-in form. */
export async function signIn(page: Page, server: Server, role: Role, name: string): Promise<void> {
  await page.goto(`${server.base}/login`);
  const labels: Record<Role, string> = {
    customer: "고객 (주문하기)",
    store_owner: "사장님 (가게 운영)",
    rider: "라이더 (배달하기)",
    admin: "운영자",
  };
  await page.getByLabel(labels[role]).check();
  await page.getByLabel("이름").fill(name);
  await page.getByRole("button", { name: "로그인", exact: true }).click();
}

/** No serious or critical accessibility violations on the page as it is now. */
export async function expectAccessible(page: Page, what: string): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(
    bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`),
    `${what}: serious or critical axe violations`,
  ).toEqual([]);
}

/** The customer's registration through the app. */
export async function registerCustomer(page: Page): Promise<void> {
  await expect(page.getByRole("heading", { name: "회원 가입" })).toBeVisible();
  await page.getByLabel("휴대폰 번호").fill("010-1234-5678");
  await page.getByLabel("주소").fill("서울 중구 을지로 12");
  await page.getByRole("button", { name: "가입하기" }).click();
  await expect(page.getByRole("heading", { name: /안녕하세요/ })).toBeVisible();
}

/** From the customer's home: the store's page, `count` of 참치김밥, the order placed. */
export async function orderFrom(page: Page, store: string, count = 1): Promise<string> {
  await page.getByRole("link", { name: store }).click();
  for (let i = 0; i < count; i++) await page.getByRole("button", { name: "참치김밥 담기" }).click();
  await page.getByRole("button", { name: "주문하기" }).click();
  await expect(page).toHaveURL(/\/customer\/orders\/[0-9a-f-]+$/);
  return page.url().split("/").at(-1) ?? "";
}
