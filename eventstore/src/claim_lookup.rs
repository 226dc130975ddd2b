//! Who holds a uniqueness key now (the claims table is written only by appends).

use crate::error::Error;
use crate::store::EventStore;

impl EventStore {
    /// The stream holding a uniqueness key, if any.
    pub async fn claim_holder(&self, scope: &str, key: &str) -> Result<Option<String>, Error> {
        Ok(
            sqlx::query_scalar("SELECT stream_name FROM claims WHERE scope = $1 AND key = $2")
                .bind(scope)
                .bind(key)
                .fetch_optional(self.pool())
                .await?,
        )
    }
}
