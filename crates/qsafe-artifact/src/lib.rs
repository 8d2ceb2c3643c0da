#![doc = include_str!("../README.md")]

pub mod chunked;
mod error;

pub use error::{Error, Result};
