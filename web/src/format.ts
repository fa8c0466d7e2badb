// Korean formats: won with thousands separators, dates and times in Asia/Seoul.
const won = new Intl.NumberFormat("ko-KR");
const dateTime = new Intl.DateTimeFormat("ko-KR", {
  timeZone: "Asia/Seoul",
  month: "long",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

export const formatWon = (amount: number): string => `${won.format(amount)}원`;

export const formatTime = (iso: string | null | undefined): string =>
  iso ? dateTime.format(new Date(iso)) : "";

export const formatDistance = (metres: number): string =>
  metres < 1000 ? `${won.format(metres)}m` : `${(metres / 1000).toFixed(1)}km`;

export const STATUS: Record<string, string> = {
  awaiting_payment: "결제 대기",
  paid: "결제 완료",
  accepted: "주문 접수",
  rejected: "주문 거절",
  cooking: "조리 중",
  ready_for_pickup: "픽업 대기",
  in_delivery: "배달 중",
  delivered: "배달 완료",
  cancelled: "주문 취소",
};

export const statusLabel = (status: string): string => STATUS[status] ?? status;

export const GRADE: Record<string, string> = {
  basic: "일반",
  silver: "실버",
  gold: "골드",
  vip: "VIP",
};

export const gradeLabel = (grade: string): string => GRADE[grade.toLowerCase()] ?? grade;

/** A problem+json body's human detail, or a fallback. */
export function problemText(error: unknown, fallback = "요청을 처리하지 못했습니다"): string {
  if (error && typeof error === "object" && "detail" in error) {
    return String((error as { detail: unknown }).detail);
  }
  return fallback;
}
