//! Every message eats sends, in one place: the AlimTalk template code, the Korean text with
//! its `#{...}` parameters exactly as an operator registers it with Kakao, and whether it is
//! critical. Kakao approves templates in advance and refuses any text that differs from the
//! registered one but for the parameters, so the text lives here and nowhere else.

use std::collections::BTreeMap;

use eats_domain::Won;

/// One registered message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Template {
    /// The AlimTalk template code (at most 20 characters), also the Solapi template id.
    pub code: &'static str,
    /// The registered text; `#{name}` marks a parameter.
    pub text: &'static str,
    /// Critical messages (money owed back, an order that will not come) bypass quiet hours,
    /// are never superseded, and wait for a failing provider instead of being shed.
    pub critical: bool,
    /// Money messages keep their freshness longer (payment and refund confirmations).
    pub money: bool,
    /// Where the message sits in the order's lifecycle: a later rank supersedes an earlier one
    /// that occurred in the same millisecond.
    pub rank: i64,
}

macro_rules! templates {
    ($($(#[$doc:meta])* $name:ident = $code:literal, $rank:literal, critical: $critical:literal, money: $money:literal, $text:literal;)*) => {
        $( $(#[$doc])* pub const $name: Template = Template { code: $code, text: $text, critical: $critical, money: $money, rank: $rank }; )*
        /// Every template, for registering them with Kakao and for looking codes up.
        pub const ALL: &[Template] = &[$($name),*];
    };
}

templates! {
    /// To the customer: the order is placed and waits for payment.
    ORDER_PLACED = "EATS_ORDER_PLACED", 1, critical: false, money: false,
        "[#{storeName}] 주문이 접수되었습니다.\n주문번호: #{orderNo}\n메뉴: #{items}\n결제 금액: #{total}\n결제를 완료해 주세요.";
    /// To the customer: the payment went through.
    ORDER_PAID = "EATS_ORDER_PAID", 2, critical: false, money: true,
        "[#{storeName}] 결제가 완료되었습니다.\n주문번호: #{orderNo}\n결제 금액: #{total}\n가게에서 주문을 확인하고 있습니다.";
    /// To the store owner: a paid order arrived.
    STORE_NEW_ORDER = "EATS_STORE_NEW_ORDER", 2, critical: false, money: false,
        "[#{storeName}] 새 주문이 들어왔습니다.\n주문번호: #{orderNo}\n메뉴: #{items}\n금액: #{total}";
    /// To the customer: the store took the order.
    ORDER_ACCEPTED = "EATS_ORDER_ACCEPTED", 3, critical: false, money: false,
        "#{storeName}에서 주문을 수락했습니다.\n주문번호: #{orderNo}\n메뉴: #{items}";
    /// To the customer: the store refused; the payment comes back.
    ORDER_REJECTED = "EATS_ORDER_REJECTED", 3, critical: true, money: true,
        "[#{storeName}] 주문이 거절되었습니다.\n주문번호: #{orderNo}\n사유: #{reason}\n결제하신 #{refund}은 환불됩니다.";
    /// To the customer: the kitchen started.
    COOKING_STARTED = "EATS_COOKING_STARTED", 4, critical: false, money: false,
        "[#{storeName}] 조리를 시작했습니다.\n주문번호: #{orderNo}";
    /// To the customer: the food waits for a rider.
    ORDER_READY = "EATS_ORDER_READY", 5, critical: false, money: false,
        "[#{storeName}] 음식이 준비되어 라이더를 기다리고 있습니다.\n주문번호: #{orderNo}";
    /// To the customer: a rider took the job.
    RIDER_ASSIGNED = "EATS_RIDER_ASSIGNED", 6, critical: false, money: false,
        "[#{storeName}] 라이더가 배정되었습니다.\n주문번호: #{orderNo}";
    /// To the customer: the rider has the food and is on the way.
    ORDER_PICKED_UP = "EATS_ORDER_PICKED_UP", 7, critical: false, money: false,
        "[#{storeName}] 라이더가 음식을 픽업해 배달 중입니다.\n주문번호: #{orderNo}";
    /// To the customer: delivered.
    ORDER_DELIVERED = "EATS_ORDER_DELIVERED", 8, critical: false, money: false,
        "[#{storeName}] 배달이 완료되었습니다. 맛있게 드세요!\n주문번호: #{orderNo}";
    /// To the customer: cancelled before payment, nothing owed.
    ORDER_CANCELLED = "EATS_ORDER_CANCELLED", 9, critical: true, money: false,
        "[#{storeName}] 주문이 취소되었습니다.\n주문번호: #{orderNo}\n사유: #{reason}";
    /// To the customer: cancelled after payment; the payment comes back.
    CANCELLED_REFUND = "EATS_CANCEL_REFUND", 9, critical: true, money: true,
        "[#{storeName}] 주문이 취소되었습니다.\n주문번호: #{orderNo}\n사유: #{reason}\n결제하신 #{refund}은 환불됩니다.";
    /// To the customer: the refund is done.
    REFUND_DONE = "EATS_REFUND_DONE", 10, critical: true, money: true,
        "[#{storeName}] #{refund} 환불이 완료되었습니다.\n주문번호: #{orderNo}";
    /// To the customer: a higher grade.
    GRADE_UPGRADED = "EATS_GRADE_UPGRADED", 0, critical: false, money: false,
        "#{name}님, 등급이 #{grade}(으)로 올랐습니다.\n지금까지 #{count}건 주문해 주셔서 감사합니다.";
}

impl Template {
    /// The template registered under `code`.
    pub fn by_code(code: &str) -> Option<Template> {
        ALL.iter().copied().find(|t| t.code == code)
    }

    /// The names of its `#{...}` parameters, in order of appearance.
    pub fn parameters(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        let mut rest = self.text;
        while let Some(start) = rest.find("#{") {
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else { break };
            if !names.contains(&&after[..end]) {
                names.push(&after[..end]);
            }
            rest = &after[end + 1..];
        }
        names
    }

    /// The text with every parameter filled in; a missing parameter is left as `#{name}` so
    /// the mistake shows instead of vanishing.
    pub fn render(&self, parameters: &BTreeMap<String, String>) -> String {
        let mut text = self.text.to_string();
        for (name, value) in parameters {
            text = text.replace(&format!("#{{{name}}}"), value);
        }
        text
    }
}

/// `18000` as `18,000원`.
pub fn won(amount: Won) -> String {
    let digits = amount.0.unsigned_abs().to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3 + 2);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let sign = if amount.0 < 0 { "-" } else { "" };
    format!("{sign}{grouped}원")
}

/// The short order number a customer reads out on the phone: the first eight hex digits of
/// the order id, upper case (`A1B2C3D4`).
pub fn order_number(order_id: &str) -> String {
    order_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(8)
        .collect::<String>()
        .to_uppercase()
}

/// `참치김밥 2개`, or `참치김밥 2개 외 1건` for more lines.
pub fn item_summary(lines: &[(String, u32)]) -> String {
    match lines {
        [] => String::new(),
        [(name, quantity)] => format!("{name} {quantity}개"),
        [(name, quantity), rest @ ..] => format!("{name} {quantity}개 외 {}건", rest.len()),
    }
}

/// A grade's Korean name.
pub fn grade_name(grade: eats_domain::customer::Grade) -> &'static str {
    use eats_domain::customer::Grade;
    match grade {
        Grade::Basic => "일반",
        Grade::Silver => "실버",
        Grade::Gold => "골드",
        Grade::Vip => "VIP",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_in_won_with_thousands_separators() {
        assert_eq!(won(Won(0)), "0원");
        assert_eq!(won(Won(900)), "900원");
        assert_eq!(won(Won(4_500)), "4,500원");
        assert_eq!(won(Won(1_234_567)), "1,234,567원");
    }

    #[test]
    fn order_numbers_are_the_first_eight_hex_digits() {
        assert_eq!(
            order_number("a1b2c3d4-0000-4000-8000-000000000000"),
            "A1B2C3D4"
        );
    }

    #[test]
    fn template_codes_fit_alimtalk_and_are_unique() {
        for template in ALL {
            assert!(template.code.len() <= 20, "{} is too long", template.code);
            assert_eq!(
                ALL.iter().filter(|t| t.code == template.code).count(),
                1,
                "{} twice",
                template.code
            );
        }
    }

    #[test]
    fn rendering_fills_every_parameter() {
        let parameters: BTreeMap<String, String> = [
            ("storeName", "김밥천국"),
            ("orderNo", "A1B2C3D4"),
            ("reason", "재료 소진"),
            ("refund", "9,000원"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            ORDER_REJECTED.parameters(),
            ["storeName", "orderNo", "reason", "refund"]
        );
        assert_eq!(
            ORDER_REJECTED.render(&parameters),
            "[김밥천국] 주문이 거절되었습니다.\n주문번호: A1B2C3D4\n사유: 재료 소진\n결제하신 9,000원은 환불됩니다."
        );
    }

    #[test]
    fn item_summaries_name_the_first_line_and_count_the_rest() {
        assert_eq!(item_summary(&[("참치김밥".into(), 2)]), "참치김밥 2개");
        assert_eq!(
            item_summary(&[
                ("참치김밥".into(), 2),
                ("라면".into(), 1),
                ("떡볶이".into(), 1)
            ]),
            "참치김밥 2개 외 2건"
        );
    }
}
