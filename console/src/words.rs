//! The console's words in Chinese and English, in the product's terms (组织, 部门, 成员, 授权,
//! 域名, 邮箱, 回收站). The language comes from the `lang` cookie (switchable, remembered)
//! or else `Accept-Language`.

use app::ErrorCode;

mod phrases;
use phrases::PHRASES;

/// The cookie that remembers the chosen language.
pub const LANG_COOKIE: &str = "mailplane_lang";

/// A language of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// The language named by a cookie value or a language tag (`zh-CN`, `en`).
    pub fn named(tag: &str) -> Option<Lang> {
        let tag = tag.trim().to_ascii_lowercase();
        if tag.starts_with("zh") {
            Some(Lang::Zh)
        } else if tag.starts_with("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The language of a request: the remembered choice, else the best of
    /// `Accept-Language` by q-value, else English.
    pub fn of(cookie: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(lang) = cookie.and_then(Lang::named) {
            return lang;
        }
        let mut best: Option<(f32, Lang)> = None;
        for part in accept_language.unwrap_or("").split(',') {
            let mut pieces = part.split(';');
            let Some(lang) = pieces.next().and_then(Lang::named) else {
                continue;
            };
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, lang)| lang)
    }

    /// The `lang` attribute of the page.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
}

/// The words of one language, as templates use them: `w.t("members")`.
#[derive(Debug, Clone, Copy)]
pub struct Words(pub Lang);

impl Words {
    /// The phrase for `key`; an unknown key shows itself (a test keeps templates honest).
    pub fn t<'a>(&self, key: &'a str) -> &'a str {
        match PHRASES.iter().find(|(k, _, _)| *k == key) {
            Some((_, en, zh)) => match self.0 {
                Lang::En => en,
                Lang::Zh => zh,
            },
            None => key,
        }
    }

    /// A status (`ACTIVE`, `TRIAL`, …) in words; an unknown one as it is.
    pub fn status(&self, status: &str) -> String {
        let key = format!("status_{status}");
        let phrase = self.t(&key);
        if phrase == key {
            status.to_owned()
        } else {
            phrase.to_owned()
        }
    }

    /// The language's tag.
    pub fn tag(&self) -> &'static str {
        self.0.tag()
    }

    /// Whether this is Chinese (for the switch).
    pub fn is_zh(&self) -> bool {
        self.0 == Lang::Zh
    }

    /// A refusal as a sentence a person reads next to the field it concerns.
    pub fn error(&self, code: ErrorCode, detail: &str) -> String {
        let (en, zh) = match code {
            ErrorCode::Unauthenticated => ("Please sign in again.", "请重新登录。"),
            ErrorCode::Forbidden => ("You do not manage this.", "您无权管理此项。"),
            ErrorCode::NotFound => ("It no longer exists.", "该项不存在。"),
            ErrorCode::Validation => ("Please check this value", "请检查此项"),
            ErrorCode::Conflict => (
                "Someone changed this at the same time; try again.",
                "数据已被修改，请重试。",
            ),
            ErrorCode::SeatsExhausted => (
                "Not enough seats: expand seats first.",
                "授权数不足，请先扩容。",
            ),
            ErrorCode::DomainTaken => (
                "Another organization already uses this domain.",
                "该域名已被其他组织使用。",
            ),
            ErrorCode::DomainNotVerified => ("Verify the domain first.", "请先验证域名。"),
            ErrorCode::IdentifierTaken => ("This identifier is taken.", "该组织标识已被占用。"),
            ErrorCode::AccountTaken => (
                "This account is already used in the organization.",
                "该账号已被本组织成员使用。",
            ),
            ErrorCode::PhoneTaken => (
                "This phone number is already used in the organization.",
                "该手机号已被本组织成员使用。",
            ),
            ErrorCode::AddressTaken => ("This address is taken.", "该邮箱地址已被占用。"),
            ErrorCode::AddressInRecycleBin => (
                "This address is in the recycle bin: restore or purge it.",
                "该地址在回收站中，请恢复或彻底删除。",
            ),
            ErrorCode::MemberNotAuthorized => ("Authorize the member first.", "请先授权该成员。"),
            ErrorCode::MemberNotDisabled => ("Disable the member first.", "请先停用该成员。"),
            ErrorCode::MemberNotDeleted => ("Delete the member first.", "请先删除该成员。"),
            ErrorCode::OrganizationNotEmpty => ("Remove the members first.", "请先移除成员。"),
            ErrorCode::MemberHasMailbox => (
                "Close the member's mailbox first.",
                "请先关闭该成员的邮箱。",
            ),
            ErrorCode::DepartmentNotEmpty => (
                "The department still has members or sub-departments.",
                "部门下仍有成员或子部门。",
            ),
            ErrorCode::DomainInUse => ("Mailboxes still use this domain.", "仍有邮箱使用该域名。"),
            ErrorCode::InvitationExpired => ("The invitation has expired.", "邀请已过期。"),
            ErrorCode::InvalidToken => ("The link is not valid.", "链接无效。"),
            ErrorCode::NotTrial => ("This is not a trial.", "当前不是试用。"),
            ErrorCode::TrialExpired => ("The trial has expired.", "试用已到期。"),
            ErrorCode::TrialNotAllowed => ("A trial is not available.", "无法试用。"),
            ErrorCode::RefundWindowClosed => ("The refund period is over.", "已超过退款期限。"),
            ErrorCode::RefundLimitReached => {
                ("No refunds are left this year.", "本年度退款次数已用完。")
            }
            ErrorCode::SubscriptionInactive => {
                ("Bind an active mail app first.", "请先绑定有效的邮箱应用。")
            }
            ErrorCode::ImportTooLarge => {
                ("At most 1,000 rows at a time.", "每次最多导入 1000 行。")
            }
            ErrorCode::RequestTooLarge => ("The upload is too large.", "上传内容过大。"),
            ErrorCode::RateLimited => (
                "Too many messages; try again later.",
                "发送过于频繁，请稍后再试。",
            ),
            ErrorCode::Unavailable => (
                "The service is busy; try again in a moment.",
                "服务繁忙，请稍后再试。",
            ),
            ErrorCode::Internal => (
                "Something went wrong on our side.",
                "系统错误，请稍后再试。",
            ),
        };
        let sentence = match self.0 {
            Lang::En => en,
            Lang::Zh => zh,
        };
        // Validation says which rule: the rule's own words follow.
        if code == ErrorCode::Validation && !detail.is_empty() {
            format!("{sentence}: {detail}")
        } else {
            sentence.to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remembered_choice_wins_then_the_best_accepted_language() {
        assert_eq!(Lang::of(Some("zh"), Some("en")), Lang::Zh);
        assert_eq!(Lang::of(None, Some("zh-CN,zh;q=0.9,en;q=0.8")), Lang::Zh);
        assert_eq!(Lang::of(None, Some("fr, en;q=0.5, zh;q=0.7")), Lang::Zh);
        assert_eq!(Lang::of(None, Some("en-US")), Lang::En);
        assert_eq!(Lang::of(Some("klingon"), None), Lang::En);
    }

    #[test]
    fn every_phrase_a_template_uses_exists_in_both_languages() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for piece in text.split("w.t(\"").skip(1) {
                let key = piece.split('"').next().unwrap();
                assert!(
                    PHRASES.iter().any(|(k, _, _)| *k == key),
                    "no phrase for {key}"
                );
            }
        }
        let keys: std::collections::BTreeSet<_> = PHRASES.iter().map(|p| p.0).collect();
        assert_eq!(keys.len(), PHRASES.len(), "a phrase is listed twice");
    }
}
