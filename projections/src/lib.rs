//! Read models: projectors that fold events into tables, a runner with checkpoints,
//! rebuild. They arrive with the API issue.
