//! `sms-{source event id}`: what became of the text message an event asked for. The stream
//! is named after the event that caused the message, so "was it sent?" is one stream read
//! and a second send is refused by the store (the stream then exists).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SmsPurpose {
    /// A member was authorized: account and initial password.
    Credentials,
    /// An admin was invited: acceptance link and token.
    Invitation,
    /// A member's password was reset: the new password.
    PasswordReset,
    /// An admin asked to dissolve the organization: the one-time code.
    DissolutionCode,
    /// A mailbox was opened (or given) to a member: the address and the login.
    MailboxOpened,
}

/// The outcome of one message. Never holds its text: the text carries a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum SmsEvent {
    SmsSent {
        source_event_id: Uuid,
        purpose: SmsPurpose,
        to: String,
        provider: String,
    },
    /// A permanent failure (no phone, the provider refused it); it is not retried.
    SmsFailed {
        source_event_id: Uuid,
        purpose: SmsPurpose,
        to: Option<String>,
        reason: String,
    },
}

/// The credentials message of the enablement guide, word for word.
pub fn credentials_text(
    name: &str,
    organization: &str,
    app: &str,
    account: &str,
    password: &str,
) -> String {
    format!("尊敬的{name}，您好。{organization}已为您开通{app}应用。您的账号名：{account}，密码：{password}。")
}

/// The invitation message: who invites, the link, how long it is valid.
pub fn invitation_text(name: &str, organization: &str, link: &str, valid_days: i64) -> String {
    format!(
        "尊敬的{name}，您好。{organization}邀请您成为管理员，请在{valid_days}天内打开链接接受邀请：{link}"
    )
}

/// The password reset message.
pub fn password_reset_text(
    name: &str,
    organization: &str,
    app: &str,
    account: &str,
    password: &str,
) -> String {
    format!("尊敬的{name}，您好。{organization}已重置您在{app}应用的密码。您的账号名：{account}，新密码：{password}。")
}

/// The message a member gets when a mailbox is opened for (or given to) them: the address
/// and the logins that open it.
pub fn mailbox_opened_text(
    name: &str,
    organization: &str,
    address: &str,
    login: Option<&str>,
) -> String {
    match login {
        Some(login) => format!("尊敬的{name}，您好。{organization}已为您开通企业邮箱：{address}。登录账号：{address}或{login}，密码为您的账号密码。"),
        None => format!("尊敬的{name}，您好。{organization}已为您开通企业邮箱：{address}。登录账号：{address}，密码为您的账号密码。"),
    }
}

/// The dissolution code message (koomail-faq 5.1: the admin confirms by SMS).
pub fn dissolution_code_text(organization: &str, code: &str, minutes: i64) -> String {
    format!("您正在解散组织{organization}，验证码：{code}，{minutes}分钟内有效。解散后成员、邮箱与邮件数据将全部删除，如非本人操作请忽略。")
}

/// A phone number for logs: the first three and last four digits.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credentials_text_is_the_guides() {
        assert_eq!(
            credentials_text("张伟", "示例科技", "企业邮箱", "zhangwei", "Pw-1"),
            "尊敬的张伟，您好。示例科技已为您开通企业邮箱应用。您的账号名：zhangwei，密码：Pw-1。"
        );
    }

    #[test]
    fn the_mailbox_message_names_the_address_and_the_logins() {
        assert_eq!(
            mailbox_opened_text("张伟", "示例科技", "zhangwei@acme.cn", Some("zw@acme")),
            "尊敬的张伟，您好。示例科技已为您开通企业邮箱：zhangwei@acme.cn。登录账号：zhangwei@acme.cn或zw@acme，密码为您的账号密码。"
        );
        assert!(!mailbox_opened_text("张伟", "示例科技", "zhangwei@acme.cn", None).contains("或"));
    }

    #[test]
    fn phones_are_masked_in_the_middle() {
        assert_eq!(mask_phone("13800138000"), "138****8000");
        assert_eq!(mask_phone("12345"), "*****");
    }
}
