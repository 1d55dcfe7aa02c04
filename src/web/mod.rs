//! HTTP helpers shared by the sign-in plane, the data plane and the admin API — cookies,
//! strict query parsing, safe return URLs — kept below all three so none imports another.

pub mod cookies;
pub mod path;
pub mod query;
pub mod request;
pub mod return_to;
