//! One test per row of the leak table.
