//! Validated free text: names, addresses and reasons that end up in events and messages.

/// What was wrong with a piece of text; `field` names the input so the API can point at it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Blank after trimming.
    #[error("{field} must not be empty")]
    Empty {
        /// The input field.
        field: &'static str,
    },
    /// Longer than allowed, counted in characters (Hangul counts one per syllable).
    #[error("{field} must be at most {max} characters")]
    TooLong {
        /// The input field.
        field: &'static str,
        /// The limit.
        max: usize,
    },
    /// Contains control characters, which break notifications and logs.
    #[error("{field} must not contain control characters")]
    ControlCharacters {
        /// The input field.
        field: &'static str,
    },
}

/// Trims `value` and checks it is non-empty, at most `max` characters, and printable.
pub fn bounded(field: &'static str, value: &str, max: usize) -> Result<String, TextError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(TextError::Empty { field });
    }
    if trimmed.chars().count() > max {
        return Err(TextError::TooLong { field, max });
    }
    if trimmed.chars().any(char::is_control) {
        return Err(TextError::ControlCharacters { field });
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded_in_characters_not_bytes() {
        assert_eq!(
            bounded("name", "  김밥천국 ", 4),
            Ok("김밥천국".to_string())
        );
        assert_eq!(
            bounded("name", "김밥천국!", 4),
            Err(TextError::TooLong {
                field: "name",
                max: 4
            })
        );
        assert_eq!(
            bounded("name", " \t", 4),
            Err(TextError::Empty { field: "name" })
        );
        assert_eq!(
            bounded("name", "a\u{7}b", 4),
            Err(TextError::ControlCharacters { field: "name" })
        );
    }
}
