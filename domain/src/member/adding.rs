//! Adding members: one as an admin types it, or many as an import decides them row by row.

use super::*;

/// What an admin types to add a member (one row of an import too).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AddMember {
    pub member_id: Uuid,
    pub name: String,
    pub account: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// Checked and then dropped: it goes to the secret store, never into an event.
    pub password: String,
    pub department_id: Option<Uuid>,
    pub role: Option<RoleLabel>,
    pub employment_type: Option<EmploymentType>,
    pub hire_date: Option<NaiveDate>,
}

pub(crate) fn optional(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// Adds a member to an organization. Account and phone uniqueness are claims of the event.
pub fn add(
    organization: &OrganizationState,
    member: &MemberState,
    command: AddMember,
) -> Result<Vec<MemberEvent>, DomainError> {
    let organization_id = match organization.id {
        Some(id) if !organization.dissolved => id,
        _ => return Err(DomainError::NotFound("organization")),
    };
    if member.id.is_some() {
        return Err(DomainError::MemberExists);
    }
    let name = validate::name("name", &command.name)?;
    let account = validate::account(&command.account)?;
    let phone = optional(command.phone)
        .map(|p| validate::phone("phone", &p))
        .transpose()?;
    let email = optional(command.email)
        .map(|e| validate::email("email", &e))
        .transpose()?;
    if phone.is_none() && email.is_none() {
        return Err(DomainError::invalid(
            "phone",
            "a phone number or an e-mail address is required",
        ));
    }
    validate::password(&command.password)?;
    if let Some(d) = command.department_id {
        if !organization.departments.contains_key(&d) {
            return Err(DomainError::NotFound("department"));
        }
    }
    Ok(vec![MemberEvent::MemberAdded {
        member_id: command.member_id,
        organization_id,
        name,
        account,
        phone,
        email,
        department_id: command.department_id,
        role: command.role.unwrap_or_default(),
        employment_type: command.employment_type.unwrap_or_default(),
        hire_date: command.hire_date,
    }])
}

/// The outcome of an import: the rows to record and the rows refused, by row number
/// (0-based, as given).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImportDecision {
    pub accepted: Vec<(usize, Vec<MemberEvent>)>,
    pub failed: Vec<(usize, DomainError)>,
}

/// Decides each row on its own; of rows repeating an account, the last one wins.
pub fn import(
    organization: &OrganizationState,
    rows: Vec<AddMember>,
) -> Result<ImportDecision, DomainError> {
    if rows.len() > MAX_IMPORT_ROWS {
        return Err(DomainError::ImportTooLarge {
            rows: rows.len(),
            max: MAX_IMPORT_ROWS,
        });
    }
    if rows.is_empty() {
        return Err(DomainError::invalid(
            "rows",
            "an import needs at least one row",
        ));
    }
    let mut last_row_of: BTreeMap<String, usize> = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        last_row_of.insert(row.account.trim().to_owned(), i);
    }
    let mut decision = ImportDecision::default();
    for (i, row) in rows.into_iter().enumerate() {
        if last_row_of.get(row.account.trim()) != Some(&i) {
            continue;
        }
        match add(organization, &MemberState::default(), row) {
            Ok(events) => decision.accepted.push((i, events)),
            Err(e) => decision.failed.push((i, e)),
        }
    }
    Ok(decision)
}
