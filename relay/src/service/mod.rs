//! Use cases that combine the database, the hub and the policy: the launch rules, and
//! ending the sessions an access request no longer covers.

pub mod ending;
pub mod launch;
