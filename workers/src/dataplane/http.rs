//! Any data plane that speaks the JSON contract in schema/dataplane.md.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use domain::migration::MigrationFailure;

use super::{
    DataPlane, DataPlaneError, FolderStat, ImportError, ImportWork, MailImport, NewMailbox, Work,
};

/// How often a running import's state is asked for.
const IMPORT_POLL: Duration = Duration::from_secs(1);

/// A data plane behind HTTP.
#[derive(Debug, Clone)]
pub struct HttpDataPlane {
    client: reqwest::Client,
    base: String,
}

impl HttpDataPlane {
    /// The data plane at `base` (e.g. `http://127.0.0.1:9000/v1`).
    pub fn new(base: impl Into<String>) -> Self {
        HttpDataPlane {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            base: base.into().trim_end_matches('/').to_owned(),
        }
    }

    /// One request; `None` for 404 (unknown), the JSON answer for 2xx.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Option<Value>, DataPlaneError> {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request
            .send()
            .await
            .map_err(|e| DataPlaneError::Unavailable(e.to_string()))?;
        let status = answer.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if status.is_success() {
            let text = answer.text().await.unwrap_or_default();
            return Ok(Some(serde_json::from_str(&text).unwrap_or(Value::Null)));
        }
        let detail = answer.text().await.unwrap_or_default();
        let message = format!("{status}: {}", detail.chars().take(300).collect::<String>());
        // 409: the address still belongs to another mailbox whose purge is on its way.
        if status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::CONFLICT
            || status.is_server_error()
        {
            Err(DataPlaneError::Unavailable(message))
        } else {
            Err(DataPlaneError::Refused(message))
        }
    }

    /// A call where "unknown" counts as done (suspend, purge… of what is already gone).
    async fn act(
        &self,
        method: Method,
        path: String,
        body: Option<Value>,
    ) -> Result<(), DataPlaneError> {
        self.call(method, &path, body).await.map(|_| ())
    }
}

impl DataPlane for HttpDataPlane {
    fn name(&self) -> &'static str {
        "http"
    }

    fn ensure_domain<'a>(&'a self, domain: &'a str) -> Work<'a, ()> {
        Box::pin(self.act(Method::PUT, format!("/domains/{domain}"), None))
    }

    fn create_mailbox<'a>(&'a self, mailbox: &'a NewMailbox) -> Work<'a, ()> {
        Box::pin(async move {
            let body = json!({
                "address": mailbox.address,
                "passwordHash": mailbox.password_hash,
                "quotaMb": mailbox.quota_mb,
                "loginAlias": mailbox.login_alias,
            });
            match self
                .call(
                    Method::PUT,
                    &format!("/mailboxes/{}", mailbox.mailbox_id),
                    Some(body),
                )
                .await?
            {
                Some(_) => Ok(()),
                None => Err(DataPlaneError::Refused(
                    "the data plane answered 404 to a create".into(),
                )),
            }
        })
    }

    fn suspend(&self, mailbox_id: Uuid) -> Work<'_, ()> {
        Box::pin(self.act(
            Method::POST,
            format!("/mailboxes/{mailbox_id}/suspend"),
            None,
        ))
    }

    fn restore(&self, mailbox_id: Uuid) -> Work<'_, ()> {
        Box::pin(self.act(
            Method::POST,
            format!("/mailboxes/{mailbox_id}/restore"),
            None,
        ))
    }

    fn purge(&self, mailbox_id: Uuid) -> Work<'_, ()> {
        Box::pin(self.act(Method::DELETE, format!("/mailboxes/{mailbox_id}"), None))
    }

    fn rename<'a>(&'a self, mailbox_id: Uuid, address: &'a str) -> Work<'a, ()> {
        Box::pin(self.act(
            Method::POST,
            format!("/mailboxes/{mailbox_id}/rename"),
            Some(json!({ "address": address })),
        ))
    }

    fn usage(&self, mailbox_id: Uuid) -> Work<'_, Option<u64>> {
        Box::pin(async move {
            let answer = self
                .call(Method::GET, &format!("/mailboxes/{mailbox_id}/usage"), None)
                .await?;
            Ok(answer.map(|v| v.get("bytes").and_then(Value::as_u64).unwrap_or(0)))
        })
    }

    fn folders(&self, mailbox_id: Uuid) -> Work<'_, Option<Vec<FolderStat>>> {
        Box::pin(async move {
            let answer = self
                .call(
                    Method::GET,
                    &format!("/mailboxes/{mailbox_id}/folders"),
                    None,
                )
                .await?;
            answer
                .map(|v| {
                    serde_json::from_value(v.get("folders").cloned().unwrap_or(Value::Null))
                        .map_err(|e| DataPlaneError::Refused(format!("folders: {e}")))
                })
                .transpose()
        })
    }

    fn import_mail<'a>(&'a self, import: &'a MailImport) -> ImportWork<'a> {
        Box::pin(async move {
            let path = format!(
                "/mailboxes/{}/imports/{}",
                import.mailbox_id, import.import_id
            );
            let unavailable = |e: DataPlaneError| ImportError {
                failure: MigrationFailure::TargetUnavailable,
                reason: e.to_string(),
                retryable: matches!(e, DataPlaneError::Unavailable(_)),
            };
            let body = json!({
                "source": {
                    "host": import.source.host,
                    "port": import.source.port,
                    "protocol": import.source.protocol,
                    "tls": import.source.tls,
                },
                "user": import.user,
                "password": import.password,
                "mode": import.mode,
                "state": import.state,
            });
            self.call(Method::PUT, &path, Some(body))
                .await
                .map_err(unavailable)?;
            loop {
                tokio::time::sleep(IMPORT_POLL).await;
                let Some(state) = self
                    .call(Method::GET, &path, None)
                    .await
                    .map_err(unavailable)?
                else {
                    return Err(ImportError {
                        failure: MigrationFailure::TargetUnavailable,
                        reason: "the data plane forgot the import".into(),
                        retryable: true,
                    });
                };
                match state.get("state").and_then(Value::as_str) {
                    Some("SUCCEEDED") => {
                        return Ok(state
                            .get("syncState")
                            .and_then(Value::as_str)
                            .map(str::to_owned))
                    }
                    Some("FAILED") => {
                        return Err(ImportError {
                            failure: state
                                .get("failure")
                                .and_then(Value::as_str)
                                .and_then(MigrationFailure::from_label)
                                .unwrap_or(MigrationFailure::CopyFailed),
                            reason: state
                                .get("reason")
                                .and_then(Value::as_str)
                                .unwrap_or("the data plane did not say")
                                .chars()
                                .take(300)
                                .collect(),
                            retryable: state
                                .get("retryable")
                                .and_then(Value::as_bool)
                                .unwrap_or(false),
                        })
                    }
                    _ => {}
                }
            }
        })
    }
}
