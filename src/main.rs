//! The `snowbridge` command: a thin shell over the library.

fn main() {}
