//! The administrators' pages (config): filled in by issue 22.
