//! The built-in users. Fixed UUID ids on purpose: the field bug this project exists for
//! included a backend falling back to the id "anonymous", which a uuid column rejects; real
//! ids keep that class of mistake visible.

#[derive(Debug)]
pub struct User {
    pub id: &'static str,
    pub email: &'static str,
    password: &'static str,
    pub initial_credits: u64,
    /// Supabase's user object carries one; fixed because these users are built in.
    pub created_at: &'static str,
}

pub static USERS: [User; 2] = [
    User {
        id: "6f1b1e4a-3c55-4f0e-9d7e-2b8a51c0d001",
        email: "demo@example.com",
        password: "demo",
        initial_credits: 100,
        created_at: "2024-01-01T00:00:00Z",
    },
    User {
        id: "0c9d8e7f-6a5b-4c3d-8e2f-1a0b9c8d0002",
        email: "other@example.com",
        password: "other",
        initial_credits: 42,
        created_at: "2024-01-02T00:00:00Z",
    },
];

pub fn by_id(id: &str) -> Option<&'static User> {
    USERS.iter().find(|u| u.id == id)
}

/// Emails compare case-insensitively (as GoTrue does); passwords exactly.
pub fn check_credentials(email: &str, password: &str) -> Option<&'static User> {
    USERS
        .iter()
        .find(|u| u.email.eq_ignore_ascii_case(email.trim()) && u.password == password)
}
