//! The archive format. See docs/FORMAT.md.
