//! Event-driven side effects (SMS, mail data plane, DNS verification, timers, webhooks),
//! each a checkpointed subscription. They arrive with the workers issue.
