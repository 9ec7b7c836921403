//! Error text fit for a log line.
//!
//! PostgreSQL's messages can quote data — a duplicate key's value, the row a check refused — so
//! none reaches a log: a database error is named by its SQLSTATE and, when it has them, the
//! constraint and table (schema names, never values). Every other layer of an error's chain
//! (Haven's own contexts, I/O and pool errors) is kept; a layer that repeats a database message
//! (a `#[error(transparent)]` wrapper) is replaced like the message itself.

use std::error::Error;
use std::fmt;

use sqlx::error::DatabaseError;
use sqlx::postgres::PgDatabaseError;

/// `error` and its sources, for a log field: `error = %loggable(&*error)`.
#[must_use]
pub fn loggable<'a>(error: &'a (dyn Error + 'static)) -> Loggable<'a> {
    Loggable(error)
}

/// See [`loggable`].
#[derive(Clone, Copy)]
pub struct Loggable<'a>(&'a (dyn Error + 'static));

impl fmt::Debug for Loggable<'_> {
    // The error's own `Debug` would print the database's message: the safe text instead.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Loggable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut layers: Vec<&(dyn Error + 'static)> = vec![self.0];
        let mut current: &(dyn Error + 'static) = self.0;
        while let Some(source) = current.source() {
            layers.push(source);
            current = source;
        }
        // The database's own messages anywhere in the chain, with what replaces them.
        let withheld: Vec<(&str, String)> = layers
            .iter()
            .filter_map(|layer| database_error(*layer))
            .collect();
        let mut parts: Vec<String> = Vec::with_capacity(layers.len());
        for layer in layers {
            let text = match database_error(layer) {
                Some((_, named)) => named,
                None => {
                    let text = layer.to_string();
                    match withheld.iter().find(|(message, _)| text.contains(message)) {
                        Some((_, named)) => named.clone(),
                        None => text,
                    }
                }
            };
            if parts.last() != Some(&text) {
                parts.push(text);
            }
        }
        f.write_str(&parts.join(": "))
    }
}

/// A database error's message and its loggable name.
fn database_error<'a>(layer: &'a (dyn Error + 'static)) -> Option<(&'a str, String)> {
    // `sqlx::Error::Database`'s source is its boxed error, seen as a `Box<dyn DatabaseError>`.
    let db = if let Some(error) = layer.downcast_ref::<sqlx::Error>() {
        error
            .as_database_error()?
            .try_downcast_ref::<PgDatabaseError>()?
    } else if let Some(boxed) = layer.downcast_ref::<Box<dyn DatabaseError>>() {
        boxed.try_downcast_ref::<PgDatabaseError>()?
    } else {
        layer.downcast_ref::<PgDatabaseError>()?
    };
    let mut named = format!("database error {}", db.code());
    if let Some(constraint) = db.constraint() {
        named.push_str(&format!(" (constraint {constraint}"));
        if let Some(table) = db.table() {
            named.push_str(&format!(" on {table}"));
        }
        named.push(')');
    } else if let Some(table) = db.table() {
        named.push_str(&format!(" (table {table})"));
    }
    Some((db.message(), named))
}
