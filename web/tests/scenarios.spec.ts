// The paths off the happy one: a declined payment paid again, a cancel before cooking with
// the refund shown, a store's rejection with its reason, the live order page resuming after
// the server restarts, and the operator's audit view.
import { expect, test, type Page } from "@playwright/test";
import {
  apiAs,
  expectAccessible,
  openStore,
  orderFrom,
  registerCustomer,
  signIn,
  startServer,
  type Server,
} from "./server";

let server: Server;
test.beforeEach(async () => {
  server = await startServer();
});
test.afterEach(async () => server.stop());

/** A customer in their own phone-sized browser, registered, on the page of a new order. */
async function customerWithOrder(
  browser: import("@playwright/test").Browser,
  store: string,
): Promise<{ page: Page; order: string }> {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  await signIn(page, server, "customer", "최고객");
  await registerCustomer(page);
  const order = await orderFrom(page, store);
  await expect(page.getByTestId("connection")).toHaveText("실시간");
  return { page, order };
}

test("a declined payment is shown as such and the order can be paid again", async ({ browser }) => {
  const owner = await apiAs(server, "store_owner", "정사장");
  await openStore(owner, "분식나라");
  const { page } = await customerWithOrder(browser, "분식나라");
  await page.getByRole("button", { name: "거절되는 카드로 결제" }).click();
  await expect(page.getByTestId("payment-message")).toContainText("결제가 거절되었습니다");
  await expect(page.getByTestId("order-status")).toHaveText("결제 대기");
  await expectAccessible(page, "declined payment");
  await page.getByRole("button", { name: "결제하기" }).click();
  await expect(page.getByTestId("order-status")).toHaveText("결제 완료");
});

test("a cancel before cooking ends the order and shows the refund", async ({ browser }) => {
  const owner = await apiAs(server, "store_owner", "정사장");
  await openStore(owner, "분식나라");
  const { page } = await customerWithOrder(browser, "분식나라");
  await page.getByRole("button", { name: "결제하기" }).click();
  await expect(page.getByTestId("order-status")).toHaveText("결제 완료");
  await page.getByRole("button", { name: "주문 취소" }).click();
  await expect(page.getByTestId("order-status")).toHaveText("주문 취소");
  await expect(page.getByTestId("connection")).toHaveText("종료됨");
  await expect(page.getByTestId("refund")).toHaveText("환불 완료: 4,500원");
  await expect(page.getByRole("button", { name: "주문 취소" })).toHaveCount(0);
});

test("a store's rejection reaches the customer live with its reason and the refund", async ({
  browser,
}) => {
  const ownerPage = await (await browser.newContext()).newPage();
  await signIn(ownerPage, server, "store_owner", "정사장");
  await ownerPage.getByLabel("가게 이름").fill("분식나라");
  await ownerPage.getByLabel("주소").fill("서울 중구 세종대로 110");
  await ownerPage.getByRole("button", { name: "등록하기" }).click();
  await ownerPage.getByLabel("메뉴 이름").fill("참치김밥");
  await ownerPage.getByLabel("가격(원)").last().fill("4500");
  await ownerPage.getByRole("button", { name: "메뉴 추가" }).click();
  await expect(ownerPage.getByText("참치김밥")).toBeVisible();
  await ownerPage.getByRole("button", { name: "영업 시작" }).click();
  await expect(ownerPage.getByTestId("store-open")).toHaveText("영업 중");

  const { page, order } = await customerWithOrder(browser, "분식나라");
  await page.getByRole("button", { name: "결제하기" }).click();
  await expect(page.getByTestId("order-status")).toHaveText("결제 완료");

  const row = ownerPage.getByTestId(`queued-${order}`);
  await row.getByLabel("거절 사유").fill("재료 소진");
  await row.getByRole("button", { name: /거절$/ }).click();
  await expect(row).toHaveCount(0);
  await expect(page.getByTestId("order-status")).toHaveText("주문 거절");
  await expect(page.getByText("사유: 재료 소진")).toBeVisible();
  await expect(page.getByTestId("refund")).toHaveText("환불 완료: 4,500원");
});

test("the order page resumes its live stream after the server restarts, missing nothing", async ({
  browser,
}) => {
  const owner = await apiAs(server, "store_owner", "정사장");
  const store = await openStore(owner, "분식나라");
  const { page, order } = await customerWithOrder(browser, "분식나라");
  await page.getByRole("button", { name: "결제하기" }).click();
  await expect(page.getByTestId("order-status")).toHaveText("결제 완료");

  await server.restart();
  // The page reconnects by itself (Last-Event-ID) and takes the next step as it happens.
  await expect(page.getByTestId("connection")).toHaveText("실시간");
  const accepted = await owner.POST("/stores/{store_id}/orders/{order_id}/accept", {
    params: { path: { store_id: store, order_id: order } },
  });
  expect(accepted.response.status).toBe(200);
  await expect(page.getByTestId("order-status")).toHaveText("주문 접수");
  await expect(page.getByTestId("timeline").locator("li strong")).toHaveText([
    "결제 대기",
    "결제 완료",
    "주문 접수",
  ]);
});

test("the operator reads an order's whole timeline, dead letters and consumer lag", async ({
  browser,
}) => {
  const owner = await apiAs(server, "store_owner", "정사장");
  await openStore(owner, "분식나라");
  const { order } = await customerWithOrder(browser, "분식나라");
  const admin = await (await browser.newContext()).newPage();
  await signIn(admin, server, "admin", "운영자");
  await expect(admin.getByRole("heading", { name: "운영" })).toBeVisible();
  await admin.getByLabel("주문 ID").fill(order);
  await admin.getByRole("button", { name: "조회" }).click();
  await expect(admin.getByRole("cell", { name: "OrderPlaced" })).toBeVisible();
  await expect(admin.getByText("보류된 메시지가 없습니다.")).toBeVisible();
  await expect(admin.getByRole("cell", { name: "order_view" })).toBeVisible();
  await expectAccessible(admin, "admin");
});

test("signing in, registering and ordering work from the keyboard alone", async ({ page }) => {
  const owner = await apiAs(server, "store_owner", "정사장");
  await openStore(owner, "분식나라");
  await page.goto(`${server.base}/login`);
  // Keys pressed while the app is still rendering the form land on nodes it then replaces
  // (seen on a loaded machine: after two Tabs the focus was still on the first link). Start
  // once the form is there and nothing is loading.
  await expect(page.getByLabel("고객 (주문하기)")).toBeVisible();
  await page.waitForLoadState("networkidle");
  // Tab from the top of the page to the role choice; arrows pick the role, Tab moves on.
  await page.keyboard.press("Tab"); // the eats link
  await page.keyboard.press("Tab"); // the first role
  await expect(page.getByLabel("고객 (주문하기)")).toBeFocused();
  await page.keyboard.press("Tab");
  await expect(page.getByLabel("이름")).toBeFocused();
  await page.keyboard.type("키보드");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "회원 가입" })).toBeVisible();
  // Every field and button of the form is in the tab order, then Enter submits.
  await page.getByLabel("이름").focus();
  for (const [label, text] of [
    ["휴대폰 번호", "010-1234-5678"],
    ["주소", "서울 중구 을지로 12"],
  ] as const) {
    await page.keyboard.press("Tab");
    await expect(page.getByLabel(label)).toBeFocused();
    await page.keyboard.type(text);
  }
  await page.keyboard.press("Tab");
  await expect(page.getByLabel("위도")).toBeFocused();
  await page.keyboard.press("Tab");
  await expect(page.getByLabel("경도")).toBeFocused();
  await page.keyboard.press("Tab");
  await expect(page.getByRole("button", { name: "현재 위치 사용" })).toBeFocused();
  await page.keyboard.press("Tab");
  await expect(page.getByRole("button", { name: "가입하기" })).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: /안녕하세요/ })).toBeVisible();
  // The store, an item, the order: focus moves by Tab, buttons press with Enter.
  await page.getByRole("link", { name: "분식나라" }).focus();
  await page.keyboard.press("Enter");
  const add = page.getByRole("button", { name: "참치김밥 담기" });
  await add.focus();
  await page.keyboard.press("Enter");
  await page.keyboard.press("Tab");
  await expect(page.getByRole("button", { name: "주문하기" })).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("order-status")).toHaveText("결제 대기");
});
