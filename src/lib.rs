//! podclean: batch cleanup and loudness normalization for spoken-word audio.
//!
//! The library is pure computation and file handling; it never prints. Progress and results
//! go to a [`batch::Observer`], which the CLI implements.

pub mod batch;
pub mod discover;
pub mod dsp;
pub mod io;
pub mod loudness;
pub mod pipeline;
pub mod preset;
pub mod report;
pub mod state;
