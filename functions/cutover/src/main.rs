//! Lambda entry point of the cutover function (in progress).

fn main() {}
