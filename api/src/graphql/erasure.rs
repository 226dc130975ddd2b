//! Erasing a person: a manager erases a deleted member of their organization, an operator
//! carries out a person's erasure request in any organization. Either way the member's data
//! key is deleted and every reader sees `"[erased]"` from then on.

use async_graphql::{Context, Object, ID};

use super::context::{once, request, services};
use super::enums::parse_id;
use super::member::MemberRow;
use super::member_mutation::answer;

#[derive(Default)]
pub struct ErasureMutation;

#[Object]
impl ErasureMutation {
    /// Manager (or operator, on the person's request): erase a deleted member's name,
    /// account, phone, e-mail and mailbox addresses from every event and read model.
    /// Mailboxes still in the recycle bin are purged with it. Cannot be undone.
    async fn erase_member(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MemberRow> {
        let id = parse_id("memberId", &member_id)?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        once(ctx, idempotency_key, "eraseMember", &id, async {
            let done = if r.is_operator() {
                app::personal_data::erase_member_on_request(&s.app, r, id).await?
            } else {
                app::personal_data::erase_member(&s.app, r, id).await?
            };
            s.settle(done).await;
            Ok(())
        })
        .await?;
        answer(ctx, id).await
    }
}
