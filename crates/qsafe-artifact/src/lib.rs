#![doc = include_str!("../README.md")]

pub mod chunked;
pub mod container;
mod error;
pub mod model;
pub mod safetensors;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use error::{Error, Result, unwrap_io};
