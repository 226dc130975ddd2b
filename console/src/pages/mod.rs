//! One module per screen, and what the organization's screens share (`org`).

pub mod audit;
pub mod domains;
pub mod home;
pub mod import;
pub mod invitation;
pub mod mailboxes;
pub mod member_edit;
pub mod member_forms;
pub mod members;
pub mod migrations;
pub mod org;
pub mod settings;
pub mod signin;
pub mod subscription;
