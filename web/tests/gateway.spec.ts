// A payment gateway that fails: paying answers at once "busy, pay again in N s", shown as
// such, and the order stays payable.
import { expect, test } from "@playwright/test";
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
  // Every simulated gateway call fails, so the first payment already gets the 503.
  server = await startServer({ EATS_PAYMENT_SIM_FAILURE_RATE: "1" });
});
test.afterEach(async () => server.stop());

test("a busy gateway is shown with when to pay again, and the order stays payable", async ({
  page,
}) => {
  const owner = await apiAs(server, "store_owner", "정사장");
  await openStore(owner, "분식나라");
  await signIn(page, server, "customer", "최고객");
  await registerCustomer(page);
  await orderFrom(page, "분식나라");
  await page.getByRole("button", { name: "결제하기" }).click();
  await expect(page.getByTestId("payment-message")).toHaveText(
    /결제 대행사가 바쁩니다\. \d+초 후에 다시 결제해 주세요/,
  );
  await expect(page.getByTestId("order-status")).toHaveText("결제 대기");
  await expect(page.getByRole("button", { name: "결제하기" })).toBeEnabled();
  await expectAccessible(page, "busy gateway");
});
