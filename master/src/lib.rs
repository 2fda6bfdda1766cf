//! The mesoraft master.
