//! Cache parameter values checked against a catalogue entry's `DataType` and `AllowedValues` (issue 16, first
//! step: the grammar; the catalogues and the parameter group actions build on it).
//!
//! AWS's `AllowedValues` is a small grammar, seen in its catalogues: `a,b,c` (an enumeration), `lo-hi`, `lo-` (no
//! upper bound), `-` (anything), and mixes such as `0,20-` or `-5,-4,-3,-2,-1,1-` (a leading minus sign belongs to
//! the number). Every value is a string on the wire; `integer` values are whole numbers within the ranges.

/// One part of an `AllowedValues` list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// A value as written (a word, or a number).
    Exact(String),
    /// Whole numbers from `lo` to `hi` (inclusive; `None`: unbounded).
    Range { lo: Option<i64>, hi: Option<i64> },
}

/// What a parameter's `AllowedValues` admits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    /// `None`: anything (`-`, or no `AllowedValues` at all).
    parts: Option<Vec<Part>>,
}

/// Splits `lo-hi` (either side may be empty, `lo` may be negative) into its bounds; `None` when `s` is no range.
fn range(s: &str) -> Option<(Option<i64>, Option<i64>)> {
    // The separator is a minus sign that is not the number's own leading sign.
    let at = s.char_indices().skip(1).find(|(_, c)| *c == '-')?.0;
    let (lo, hi) = (&s[..at], &s[at + 1..]);
    let bound = |b: &str| -> Option<Option<i64>> {
        if b.is_empty() {
            Some(None)
        } else {
            b.parse().ok().map(Some)
        }
    };
    Some((bound(lo)?, bound(hi)?))
}

impl Allowed {
    /// Reads an `AllowedValues` text.
    pub fn parse(text: Option<&str>) -> Self {
        let Some(t) = text.map(str::trim).filter(|t| !t.is_empty() && *t != "-") else {
            return Self { parts: None };
        };
        let parts = t
            .split(',')
            .map(str::trim)
            .map(|p| match range(p) {
                Some((lo, hi)) => Part::Range { lo, hi },
                None => Part::Exact(p.to_string()),
            })
            .collect();
        Self { parts: Some(parts) }
    }

    /// Whether `value` is allowed, for a parameter of `data_type` (`integer`, `string`, `boolean`).
    pub fn admits(&self, data_type: &str, value: &str) -> bool {
        let number = value.parse::<i64>().ok();
        if data_type == "integer" && number.is_none() {
            return false;
        }
        let Some(parts) = &self.parts else {
            return true;
        };
        parts.iter().any(|p| match p {
            Part::Exact(e) => e == value,
            Part::Range { lo, hi } => {
                number.is_some_and(|n| lo.is_none_or(|lo| n >= lo) && hi.is_none_or(|hi| n <= hi))
            }
        })
    }

    /// The check of a value given for parameter `name`: `Err` with a message a person can act on.
    pub fn check(
        &self,
        name: &str,
        data_type: &str,
        allowed_text: &str,
        value: &str,
    ) -> Result<(), String> {
        if self.admits(data_type, value) {
            return Ok(());
        }
        let shown = crate::rules::shown(value);
        Err(if data_type == "integer" && value.parse::<i64>().is_err() {
            format!("Value ({shown}) for parameter {name} is invalid: it must be a whole number in {allowed_text}.")
        } else {
            format!("Value ({shown}) for parameter {name} is invalid: allowed values are {allowed_text}.")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar_of_allowed_values() {
        let yes_no = Allowed::parse(Some("yes,no"));
        assert!(yes_no.admits("string", "yes") && !yes_no.admits("string", "maybe"));
        let closed = Allowed::parse(Some("1-75"));
        assert!(closed.admits("integer", "1") && closed.admits("integer", "75"));
        assert!(!closed.admits("integer", "0") && !closed.admits("integer", "76"));
        assert!(!closed.admits("integer", "7.5") && !closed.admits("integer", "x"));
        let open = Allowed::parse(Some("1048576-"));
        assert!(open.admits("integer", "1073741824") && !open.admits("integer", "1048575"));
        let any = Allowed::parse(Some("-"));
        assert!(any.admits("integer", "-1") && any.admits("integer", "10000"));
        assert!(
            !any.admits("integer", "ten"),
            "an integer is still a number"
        );
        assert!(Allowed::parse(None).admits("string", "KEA"));
        let timeout = Allowed::parse(Some("0,20-"));
        assert!(timeout.admits("integer", "0") && timeout.admits("integer", "20"));
        assert!(!timeout.admits("integer", "5"));
        let list_size = Allowed::parse(Some("-5,-4,-3,-2,-1,1-"));
        assert!(list_size.admits("integer", "-5") && list_size.admits("integer", "-1"));
        assert!(list_size.admits("integer", "128"));
        assert!(!list_size.admits("integer", "0") && !list_size.admits("integer", "-6"));
        let negative_range = Allowed::parse(Some("-10--2"));
        assert!(negative_range.admits("integer", "-3") && !negative_range.admits("integer", "-1"));
    }

    #[test]
    fn refusals_name_the_parameter_and_what_is_allowed() {
        let a = Allowed::parse(Some("0,20-"));
        let e = a.check("timeout", "integer", "0,20-", "5").expect_err("5");
        assert!(
            e.contains("timeout") && e.contains("0,20-") && e.contains("(5)"),
            "{e}"
        );
        let e = a
            .check("timeout", "integer", "0,20-", "soon")
            .expect_err("soon");
        assert!(e.contains("whole number"), "{e}");
        assert!(a.check("timeout", "integer", "0,20-", "300").is_ok());
    }
}
