// The whole life of an order with three people at once, each in their own browser: the
// owner sets up a store and opens it, the customer orders and pays, the owner sees it
// arrive live and cooks, a rider nearby sees the job, claims and picks up, and the customer
// watches every step without reloading, confirms, and sees their grade.
import { expect, test } from "@playwright/test";
import { fileURLToPath } from "node:url";
import {
  expectAccessible,
  orderFrom,
  registerCustomer,
  signIn,
  startServer,
  type Server,
} from "./server";

// The README's screenshots are rewritten with EATS_UPDATE_SCREENSHOTS=1 (as schemas/ are with
// EATS_UPDATE_SCHEMAS=1); otherwise they go to test-results/, so a test run leaves the tree as
// it was.
const SHOTS = fileURLToPath(
  new URL(
    process.env.EATS_UPDATE_SCREENSHOTS === "1" ? "../../docs/screenshots/" : "../test-results/",
    import.meta.url,
  ),
);
let server: Server;

test.beforeEach(async () => {
  // One completed order earns silver, so the grade changes within the test.
  server = await startServer({ EATS_GRADE_THRESHOLDS: "1,2,3" });
});
test.afterEach(async () => server.stop());

test("an order from the owner's open store to the customer's confirmation, live in three browsers", async ({
  browser,
}) => {
  const owner = await (
    await browser.newContext({ viewport: { width: 1280, height: 900 } })
  ).newPage();
  const customer = await (
    await browser.newContext({
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
    })
  ).newPage();
  const riderContext = await browser.newContext({
    viewport: { width: 390, height: 844 },
    isMobile: true,
    hasTouch: true,
    geolocation: { latitude: 37.567, longitude: 126.979 },
    permissions: ["geolocation"],
  });
  const rider = await riderContext.newPage();

  // The owner: sign in, register a store, a menu item, open.
  await signIn(owner, server, "store_owner", "박사장");
  await expectAccessible(owner, "sign-in landing (owner home)");
  await owner.getByLabel("가게 이름").fill("김밥천국 시청점");
  await owner.getByLabel("주소").fill("서울 중구 세종대로 110");
  await owner.getByRole("button", { name: "등록하기" }).click();
  await expect(owner).toHaveURL(/\/owner\/stores\//);
  await owner.getByLabel("메뉴 이름").fill("참치김밥");
  await owner.getByLabel("가격(원)").last().fill("4500");
  await owner.getByRole("button", { name: "메뉴 추가" }).click();
  await expect(owner.getByText("참치김밥")).toBeVisible();
  await owner.getByRole("button", { name: "영업 시작" }).click();
  await expect(owner.getByTestId("store-open")).toHaveText("영업 중");
  await expect(owner.getByText("처리할 주문이 없습니다.")).toBeVisible();
  await expectAccessible(owner, "owner store page");

  // The customer: sign in, register, order two, pay.
  await customer.goto(`${server.base}/login`);
  await expectAccessible(customer, "sign-in page");
  await signIn(customer, server, "customer", "김민지");
  await expectAccessible(customer, "customer registration");
  await registerCustomer(customer);
  await expect(customer.getByText("영업 중")).toBeVisible();
  await expectAccessible(customer, "customer home");
  await customer.getByRole("link", { name: "김밥천국 시청점" }).click();
  await expectAccessible(customer, "store menu");
  await customer.goBack();
  const order = await orderFrom(customer, "김밥천국 시청점", 2);
  await expect(customer.getByTestId("order-total")).toHaveText("9,000원");
  await expect(customer.getByTestId("order-status")).toHaveText("결제 대기");
  await expect(customer.getByTestId("connection")).toHaveText("실시간");
  await expectAccessible(customer, "order page awaiting payment");
  await customer.getByRole("button", { name: "결제하기" }).click();
  await expect(customer.getByTestId("order-status")).toHaveText("결제 완료");

  // The owner sees it arrive without a reload, highlighted, and works it.
  const queued = owner.getByTestId(`queued-${order}`);
  await expect(queued).toBeVisible();
  await expect(queued).toHaveClass(/new/);
  await expect(queued).toContainText("참치김밥 × 2");
  await owner.screenshot({ path: `${SHOTS}store-owner.png`, fullPage: true });
  const short = order.slice(0, 8);
  await owner.getByRole("button", { name: `${short} 접수` }).click();
  await expect(customer.getByTestId("order-status")).toHaveText("주문 접수");
  await owner.getByRole("button", { name: `${short} 조리 시작` }).click();
  await expect(customer.getByTestId("order-status")).toHaveText("조리 중");
  await owner.getByRole("button", { name: `${short} 조리 완료` }).click();
  await expect(customer.getByTestId("order-status")).toHaveText("픽업 대기");
  await expect(queued).toContainText("라이더를 기다리는 중");

  // The rider, where the browser says they are, sees the job and takes it.
  await signIn(rider, server, "rider", "이기사");
  await expect(rider.getByLabel("위도")).toHaveValue("37.567");
  await rider.getByRole("button", { name: "이 위치로 설정" }).click();
  const claim = rider.getByRole("button", { name: /배달 잡기/ });
  await expect(claim).toBeVisible();
  await expectAccessible(rider, "rider jobs");
  await rider.screenshot({ path: `${SHOTS}rider.png`, fullPage: true });
  await claim.click();
  await expect(rider.getByTestId("job-state")).toHaveText("픽업하러 가는 중");
  await expect(rider.getByText("반경 3.0km 안에 배달이 없습니다.")).toBeVisible();
  await rider.getByRole("button", { name: "픽업 완료" }).click();
  await expect(rider.getByTestId("job-state")).toHaveText("배달 중");
  await expectAccessible(rider, "rider current job");

  // The customer saw every step, live, and sees the rider come closer as they move.
  await expect(customer.getByTestId("order-status")).toHaveText("배달 중");
  const distance = customer.getByTestId("rider-distance");
  await expect(distance).toContainText("라이더가");
  const before = (await distance.textContent()) ?? "";
  // At the customer's door (they registered at Seoul City Hall).
  await riderContext.setGeolocation({ latitude: 37.5665, longitude: 126.978 });
  await expect(distance).not.toHaveText(before);
  await expect(distance.locator("strong")).toHaveText("0m");
  const steps = ["결제 대기", "결제 완료", "주문 접수", "조리 중", "픽업 대기", "배달 중"];
  await expect(customer.getByTestId("timeline").locator("li strong")).toHaveText(steps);
  await customer.screenshot({ path: `${SHOTS}customer.png`, fullPage: true });
  await expectAccessible(customer, "order page in delivery");
  await customer.getByRole("button", { name: "배달 받았어요" }).click();
  await expect(customer.getByTestId("order-status")).toHaveText("배달 완료");
  await expect(customer.getByTestId("connection")).toHaveText("종료됨");

  // The grade follows from the completed order.
  await customer.getByRole("link", { name: "가게 목록으로" }).click();
  // The profile is a read model a moment behind the delivery: look again until it shows.
  await expect(async () => {
    await customer.reload();
    await expect(customer.getByTestId("grade")).toHaveText("실버", { timeout: 2_000 });
  }).toPass({ timeout: 30_000 });
  await expect(customer.getByTestId("completed")).toHaveText("1");
  await customer.getByRole("link", { name: "내 주문 보기" }).click();
  await expect(customer.getByText("배달 완료")).toBeVisible();
  await expectAccessible(customer, "my orders");

  // The owner, signing in again on another device, finds their store.
  const elsewhere = await (await browser.newContext()).newPage();
  await signIn(elsewhere, server, "store_owner", "박사장");
  await expect(elsewhere.getByRole("link", { name: "김밥천국 시청점" })).toBeVisible();
});
