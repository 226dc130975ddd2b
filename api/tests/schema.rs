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
