//! The administrators' pages (audit): filled in by issue 22.
