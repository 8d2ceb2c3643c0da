#![doc = include_str!("../README.md")]

pub mod chunked;
pub mod container;
pub mod safetensors;
#[cfg(feature = "testkit")]
pub mod testkit;
mod error;

pub use error::{Error, Result, unwrap_io};
