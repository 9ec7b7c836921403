//! `/api/auth`: login, refresh, logout, me, password, MFA.

mod fuzz;
mod login;
mod logout;
mod me;
mod mfa;
mod password;
mod refresh;
