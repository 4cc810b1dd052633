//! Use cases that combine the database, the hub and the policy: the launch rules, a
//! session's target (`target`), ending the sessions an access request no longer covers, and
//! emergency controls.

pub mod emergency;
pub mod ending;
pub mod launch;
pub mod target;
