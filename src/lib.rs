//! Brygga: a cross-municipality router for digital social services. See DESIGN.md in the
//! shared folder for the layers; outer modules use inner ones, never the reverse:
//! `http` → `workflow` → `routing`, `policy` → `store` → `domain`.

pub mod app;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod http;
pub mod i18n;
pub mod policy;
pub mod routing;
pub mod simulate;
pub mod store;
pub mod workflow;
