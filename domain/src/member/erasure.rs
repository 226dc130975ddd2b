//! Erasing a member: only once deleted (account, phone and seat are freed), and once.

use super::*;
use crate::erasure::ErasureReason;

/// Erases a deleted member's personal data; nothing when it is erased already.
pub fn erase(member: &MemberState, reason: ErasureReason) -> Result<Vec<MemberEvent>, DomainError> {
    if member.id.is_none() {
        return Err(DomainError::NotFound("member"));
    }
    if member.status != MemberStatus::Deleted {
        return Err(DomainError::MemberNotDeleted);
    }
    if member.erased {
        return Ok(vec![]);
    }
    Ok(vec![MemberEvent::MemberErased { reason }])
}
