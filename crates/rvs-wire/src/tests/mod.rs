//! Cross-module tests: whole-frame parsing and rewriting.

mod packet;
mod rewrite;
