//! Published training-time pruning methods, each a small piece on top of the core crate.
