//! podclean: batch cleanup and loudness normalization for spoken-word audio.
//!
//! The library is pure computation and file handling; it never prints. A run is
//! `plan` (what to do with each file, and why) → `batch` (do it, in parallel) → `report`.
//! Progress and results go to a [`batch::Observer`], which the CLI implements.

pub mod batch;
pub mod check;
pub mod dsp;
pub mod error;
pub mod fsutil;
pub mod io;
pub mod loudness;
pub mod pipeline;
pub mod plan;
pub mod preset;
pub mod report;
pub mod state;
