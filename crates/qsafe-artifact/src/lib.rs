#![doc = include_str!("../README.md")]

pub mod chunked;
pub mod container;
mod error;

pub use error::{Error, Result, unwrap_io};
