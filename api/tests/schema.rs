//! The SDL in schema/graphql/schema.graphql is what the code serves; regenerate it with
//! `mailplane schema --out schema/graphql/schema.graphql` after changing the API.

#[test]
fn the_committed_sdl_matches_the_code() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schema/graphql/schema.graphql"
    );
    let committed = std::fs::read_to_string(path).expect("schema/graphql/schema.graphql exists");
    let current = api::graphql::sdl();
    assert!(
        committed == current,
        "schema/graphql/schema.graphql is stale: run `mailplane schema --out schema/graphql/schema.graphql`"
    );
}

#[test]
fn the_sdl_names_the_operations_of_the_contract() {
    let sdl = api::graphql::sdl();
    for name in [
        "provisionSubscription(",
        "convertTrial(",
        "expandSeats(",
        "unsubscribe(",
        "createOrganization(",
        "bindApp(",
        "inviteAdmin(",
        "acceptInvitation(",
        "createDepartment(",
        "addMember(",
        "importMembers(",
        "disableMember(",
        "enableMember(",
        "deleteMember(",
        "authorizeMembers(",
        "addDomain(",
        "openMailbox(",
        "openMailboxes(",
        "closeMailbox(",
        "restoreMailbox(",
        "purgeMailbox(",
        "dissolveOrganization(",
        "me:",
        "subscriptions(",
        "subscription(",
        "organizations(",
        "organization(",
        "idempotencyKey: String",
    ] {
        assert!(sdl.contains(name), "the SDL lacks {name}");
    }
}

#[test]
fn every_mutation_takes_an_idempotency_key() {
    let sdl = api::graphql::sdl();
    let start = sdl.find("type Mutation {").expect("a Mutation type");
    let block = &sdl[start..start + sdl[start..].find("\n}").unwrap()];
    let mut fields = 0;
    let mut in_description = false;
    for line in block.lines().skip(1) {
        let line = line.trim();
        if line.starts_with("\"\"\"") {
            // A one-line description opens and closes on the same line.
            if !(line.len() > 3 && line.ends_with("\"\"\"")) {
                in_description = !in_description;
            }
            continue;
        }
        if in_description || line.is_empty() || line.starts_with('"') {
            continue;
        }
        fields += 1;
        assert!(line.contains("idempotencyKey: String"), "{line}");
    }
    assert!(fields >= 23, "{fields} mutations");
}

#[test]
fn the_sdl_states_the_invitation_validity_the_domain_enforces() {
    let sdl = api::graphql::sdl();
    let rule = format!(
        "1 to {} (a week)",
        domain::organization::MAX_INVITATION_HOURS
    );
    assert!(sdl.contains(&rule), "the SDL lacks {rule}");
}
