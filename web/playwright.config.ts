import { defineConfig } from "@playwright/test";

// Debian's chromium (apt-get install -y chromium), never a downloaded browser. Each test
// starts its own `eats serve` (tests/server.ts), so the tests run one at a time.
export default defineConfig({
  testDir: "tests",
  timeout: 180_000,
  expect: { timeout: 30_000 },
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  reporter: [["list"]],
  use: {
    browserName: "chromium",
    launchOptions: { executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium" },
    locale: "ko-KR",
    timezoneId: "Asia/Seoul",
    trace: "off",
  },
});
