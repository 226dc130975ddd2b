//! One module per screen.

pub mod home;
pub mod members;
pub mod signin;
