//! The members read model.

use super::*;

pub(crate) async fn members(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    use MemberEvent as E;
    let id = stream_id(event)?;
    let e: MemberEvent = decode_serde(event)?;
    match &e {
        // One statement for one member or a whole import (`insert_members`).
        E::MemberAdded { .. } => insert_members(conn, std::slice::from_ref(event)).await?,
        E::MemberUpdated {
            name,
            phone,
            email,
            department_id,
            role,
            ..
        } => {
            sqlx::query(
                "UPDATE members SET
                   name = coalesce($2, name),
                   phone = CASE WHEN $3 THEN $4 ELSE phone END,
                   email = CASE WHEN $5 THEN $6 ELSE email END,
                   department_id = CASE WHEN $7 THEN $8 ELSE department_id END,
                   role = coalesce($9, role)
                 WHERE id = $1",
            )
            .bind(id)
            .bind(name)
            .bind(phone.is_some())
            .bind(phone.clone().flatten())
            .bind(email.is_some())
            .bind(email.clone().flatten())
            .bind(department_id.is_some())
            .bind(department_id.flatten())
            .bind(role.map(|r| text(&r)))
            .execute(conn)
            .await?;
        }
        E::MemberDisabled {} => member_status(conn, id, MemberStatus::Disabled.as_str()).await?,
        E::MemberEnabled {} => member_status(conn, id, MemberStatus::Active.as_str()).await?,
        E::MemberDeleted { .. } => {
            sqlx::query("UPDATE members SET status = $2, authorized = false WHERE id = $1")
                .bind(id)
                .bind(MemberStatus::Deleted.as_str())
                .execute(conn)
                .await?;
        }
        E::MemberAuthorized { .. } | E::MemberAuthorizationRevoked { .. } => {
            set_authorized(conn, std::slice::from_ref(event)).await?
        }
        E::MemberPasswordReset {} => {}
        E::MemberErased { .. } => erase_member(conn, id).await?,
    }
    Ok(())
}

pub(crate) async fn member_status(
    conn: &mut PgConnection,
    id: Uuid,
    status: &str,
) -> Result<(), ProjectionError> {
    sqlx::query("UPDATE members SET status = $2 WHERE id = $1")
        .bind(id)
        .bind(status)
        .execute(conn)
        .await?;
    Ok(())
}

/// Folds a batch: a run of `MemberAdded` (an import) in one insert, a run of authorization
/// changes in one update, anything else one by one, always in log order.
pub(crate) async fn members_batch(
    conn: &mut PgConnection,
    events: &[RecordedEvent],
) -> Result<(), ProjectionError> {
    let mut rest = events;
    while let Some(first) = rest.first() {
        let run = |types: &[&str]| {
            rest.iter()
                .take_while(|e| types.contains(&e.event_type.as_str()))
                .count()
        };
        let added = run(&["MemberAdded"]);
        let authorization = run(&["MemberAuthorized", "MemberAuthorizationRevoked"]);
        let taken = if added > 1 {
            insert_members(conn, &rest[..added]).await?;
            added
        } else if authorization > 1 {
            set_authorized(conn, &rest[..authorization]).await?;
            authorization
        } else {
            apply(Projection::Members, conn, first).await?;
            1
        };
        rest = &rest[taken..];
    }
    Ok(())
}

async fn insert_members(
    conn: &mut PgConnection,
    events: &[RecordedEvent],
) -> Result<(), ProjectionError> {
    let n = events.len();
    let (mut ids, mut organizations, mut names, mut accounts) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut phones, mut emails, mut departments) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut roles, mut employment_types, mut hire_dates, mut created) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for event in events {
        if let MemberEvent::MemberAdded {
            organization_id,
            name,
            account,
            phone,
            email,
            department_id,
            role,
            employment_type,
            hire_date,
            ..
        } = decode_serde(event)?
        {
            ids.push(stream_id(event)?);
            organizations.push(organization_id);
            names.push(name);
            accounts.push(account);
            phones.push(phone);
            emails.push(email);
            departments.push(department_id);
            roles.push(text(&role));
            employment_types.push(text(&employment_type));
            hire_dates.push(hire_date);
            created.push(event.recorded_at);
        }
    }
    sqlx::query(
        "INSERT INTO members (id, organization_id, name, account, phone, email, department_id, role, employment_type, hire_date, created_at, status)
         SELECT *, $12 FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::uuid[], $8::text[], $9::text[], $10::date[], $11::timestamptz[])
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&ids)
    .bind(&organizations)
    .bind(&names)
    .bind(&accounts)
    .bind(&phones)
    .bind(&emails)
    .bind(&departments)
    .bind(&roles)
    .bind(&employment_types)
    .bind(&hire_dates)
    .bind(&created)
    .bind(MemberStatus::Active.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

async fn set_authorized(
    conn: &mut PgConnection,
    events: &[RecordedEvent],
) -> Result<(), ProjectionError> {
    // The last change of a member in the run is the one that stands.
    let mut last: std::collections::HashMap<Uuid, bool> = std::collections::HashMap::new();
    for event in events {
        last.insert(stream_id(event)?, event.event_type == "MemberAuthorized");
    }
    let (ids, authorized): (Vec<Uuid>, Vec<bool>) = last.into_iter().unzip();
    sqlx::query(
        "UPDATE members m SET authorized = v.authorized
         FROM UNNEST($1::uuid[], $2::bool[]) AS v(id, authorized) WHERE m.id = v.id",
    )
    .bind(&ids)
    .bind(&authorized)
    .execute(conn)
    .await?;
    Ok(())
}
