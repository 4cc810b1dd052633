//! Use cases that combine the database, the hub and the policy: the launch rules,
//! ending the sessions an access request no longer covers, and emergency controls.

pub mod emergency;
pub mod ending;
pub mod launch;
