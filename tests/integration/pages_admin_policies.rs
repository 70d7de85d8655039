//! The administrators' pages (policies): filled in by issue 22.
