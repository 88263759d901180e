//! The Query form decoder: `Action=...&Version=...&Tags.Tag.1.Key=...` into typed values.
//!
//! A [`Form`] holds the decoded pairs of one request (or of one element of a list of structures). Typed inputs
//! *take* members out of it; whatever is left when [`Form::finish`] is called is a parameter the action does not
//! have, and is refused rather than ignored. Lists follow the model: `Prefix.<MemberName>.N` with N counting from
//! 1 without gaps, and `Prefix=` (an empty value) for an empty list.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::error::{ApiError, ErrorCode};

/// Decoded parameters not yet read by a typed input.
#[derive(Debug, Clone, Default)]
pub struct Form {
    /// Path of this form inside the request, for messages (`""` at the top, `Tags.Tag.2.` inside a list).
    prefix: String,
    pairs: BTreeMap<String, String>,
}

fn invalid(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameterValue, message)
}

fn bad_query(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidQueryParameter, message)
}

/// Parses a list index: a positive decimal number without leading zeros.
fn parse_index(s: &str) -> Option<usize> {
    if s.is_empty() || s.len() > 6 || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl Form {
    /// Decodes a form body or a query string. A name given twice is refused: the Query protocol never does it.
    pub fn parse(raw: &[u8]) -> Result<Self, ApiError> {
        let mut pairs = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(raw) {
            if k.is_empty() {
                continue;
            }
            if pairs.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(bad_query(format!(
                    "The parameter {k} appears more than once in the request."
                )));
            }
        }
        Ok(Self {
            prefix: String::new(),
            pairs,
        })
    }

    /// Adds the pairs of `other` (the query string of a POST, say); a name in both is refused.
    pub fn merge(&mut self, other: Form) -> Result<(), ApiError> {
        for (k, v) in other.pairs {
            if self.pairs.contains_key(&k) {
                return Err(bad_query(format!(
                    "The parameter {k} appears more than once in the request."
                )));
            }
            self.pairs.insert(k, v);
        }
        Ok(())
    }

    fn full(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Takes a string member.
    pub fn string(&mut self, name: &str) -> Option<String> {
        self.pairs.remove(name)
    }

    /// Takes a string member the action requires.
    pub fn required(&mut self, name: &str) -> Result<String, ApiError> {
        self.string(name).ok_or_else(|| self.missing(name))
    }

    /// The error for a required member `name` that was not sent.
    pub fn missing(&self, name: &str) -> ApiError {
        ApiError::new(
            ErrorCode::MissingParameter,
            format!(
                "The request must contain the parameter {}.",
                self.full(name)
            ),
        )
    }

    /// Takes a string member restricted to the model's enum values.
    pub fn enumeration(
        &mut self,
        name: &str,
        allowed: &[&str],
    ) -> Result<Option<String>, ApiError> {
        match self.string(name) {
            None => Ok(None),
            Some(v) if allowed.contains(&v.as_str()) => Ok(Some(v)),
            Some(v) => Err(invalid(format!(
                "Invalid value '{v}' for {}: it must be one of {}.",
                self.full(name),
                allowed.join(", ")
            ))),
        }
    }

    /// Takes a boolean member (`true`/`false`).
    pub fn boolean(&mut self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.string(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(invalid(format!(
                "Invalid value '{v}' for {}: a boolean must be true or false.",
                self.full(name)
            ))),
        }
    }

    /// Takes an integer member (32-bit, as the model's `Integer`).
    pub fn integer(&mut self, name: &str) -> Result<Option<i32>, ApiError> {
        match self.string(name) {
            None => Ok(None),
            Some(v) => v.trim().parse::<i32>().map(Some).map_err(|_| {
                invalid(format!(
                    "Invalid value '{v}' for {}: it must be an integer.",
                    self.full(name)
                ))
            }),
        }
    }

    /// Takes a timestamp member (ISO 8601, UTC when no offset is given).
    pub fn timestamp(&mut self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        let Some(v) = self.string(name) else {
            return Ok(None);
        };
        if let Ok(t) = DateTime::parse_from_rfc3339(&v) {
            return Ok(Some(t.with_timezone(&Utc)));
        }
        for f in [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%dT%H:%M",
        ] {
            if let Ok(t) = NaiveDateTime::parse_from_str(&v, f) {
                return Ok(Some(t.and_utc()));
            }
        }
        if let Ok(secs) = v.parse::<f64>() {
            if let Some(t) = DateTime::from_timestamp(secs as i64, 0) {
                return Ok(Some(t));
            }
        }
        Err(invalid(format!(
            "Invalid value '{v}' for {}: expected an ISO 8601 timestamp such as 2024-01-01T00:00:00Z.",
            self.full(name)
        )))
    }

    /// Finds the indices of `Prefix.Member.N...` and checks they run 1..=n. `None` when the list is absent;
    /// `Some(0)` when it was sent empty as `Prefix=`.
    fn list_len(&mut self, prefix: &str, member: &str) -> Result<Option<usize>, ApiError> {
        let empty_marker = self.pairs.remove(prefix);
        if let Some(v) = &empty_marker {
            if !v.is_empty() {
                return Err(bad_query(format!(
                    "{} is a list: send its items as {}.{member}.1, {}.{member}.2, ... (or '{}=' for an empty list).",
                    self.full(prefix),
                    self.full(prefix),
                    self.full(prefix),
                    self.full(prefix)
                )));
            }
        }
        let head = format!("{prefix}.{member}.");
        let mut indices = std::collections::BTreeSet::new();
        for key in self
            .pairs
            .range(head.clone()..)
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(&head))
        {
            let rest = &key[head.len()..];
            let idx_text = rest.split('.').next().unwrap_or(rest);
            match parse_index(idx_text) {
                Some(i) => {
                    indices.insert(i);
                }
                None => {
                    return Err(bad_query(format!(
                        "Invalid list index '{idx_text}' in {}{key}: list items are numbered 1, 2, 3, ...",
                        self.prefix
                    )))
                }
            }
        }
        if indices.is_empty() {
            return Ok(empty_marker.map(|_| 0));
        }
        if empty_marker.is_some() {
            return Err(bad_query(format!(
                "{} is sent both empty and with items.",
                self.full(prefix)
            )));
        }
        let n = indices.len();
        if indices.iter().copied().ne(1..=n) {
            let missing = (1..=n).find(|i| !indices.contains(i)).unwrap_or(n);
            return Err(bad_query(format!(
                "The items of {} must be numbered from 1 without gaps; item {missing} is missing.",
                self.full(prefix)
            )));
        }
        Ok(Some(n))
    }

    /// Takes a list of strings, `Prefix.Member.N`.
    pub fn string_list(
        &mut self,
        prefix: &str,
        member: &str,
    ) -> Result<Option<Vec<String>>, ApiError> {
        let Some(n) = self.list_len(prefix, member)? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(n);
        for i in 1..=n {
            let key = format!("{prefix}.{member}.{i}");
            match self.pairs.remove(&key) {
                Some(v) => out.push(v),
                None => {
                    return Err(bad_query(format!(
                        "{} is a list of strings: send {} rather than members under it.",
                        self.full(prefix),
                        self.full(&key)
                    )))
                }
            }
        }
        Ok(Some(out))
    }

    /// Takes a list of structures, `Prefix.Member.N.Field`: one [`Form`] per item.
    pub fn struct_list(
        &mut self,
        prefix: &str,
        member: &str,
    ) -> Result<Option<Vec<Form>>, ApiError> {
        let Some(n) = self.list_len(prefix, member)? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(n);
        for i in 1..=n {
            let head = format!("{prefix}.{member}.{i}.");
            if self.pairs.contains_key(head.trim_end_matches('.')) {
                return Err(bad_query(format!(
                    "{} is a structure: send its members as {}Name.",
                    self.full(head.trim_end_matches('.')),
                    self.full(&head)
                )));
            }
            out.push(self.structure_at(&head));
        }
        Ok(Some(out))
    }

    /// Takes a nested structure `Prefix.Field`; `None` when none of its members was sent.
    pub fn structure(&mut self, prefix: &str) -> Option<Form> {
        let head = format!("{prefix}.");
        let sub = self.structure_at(&head);
        (!sub.is_empty()).then_some(sub)
    }

    fn structure_at(&mut self, head: &str) -> Form {
        let keys: Vec<String> = self
            .pairs
            .range(head.to_string()..)
            .map(|(k, _)| k.clone())
            .take_while(|k| k.starts_with(head))
            .collect();
        let mut pairs = BTreeMap::new();
        for k in keys {
            if let Some(v) = self.pairs.remove(&k) {
                pairs.insert(k[head.len()..].to_string(), v);
            }
        }
        Form {
            prefix: format!("{}{head}", self.prefix),
            pairs,
        }
    }

    /// Ends decoding: any member not taken is not a parameter of this action.
    pub fn finish(self, action: &str) -> Result<(), ApiError> {
        match self.pairs.keys().next() {
            None => Ok(()),
            Some(k) => Err(bad_query(format!(
                "{}{k} is not a parameter of {action}{}.",
                self.prefix,
                if self.pairs.len() > 1 {
                    format!(" (nor are {} others)", self.pairs.len() - 1)
                } else {
                    String::new()
                }
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(s: &str) -> Form {
        Form::parse(s.as_bytes()).expect("parse")
    }

    #[test]
    fn scalars() {
        let mut f = form("A=x%20y&B=true&C=42&D=abc&E=2024-01-01T00:00:00Z");
        assert_eq!(f.string("A").as_deref(), Some("x y"));
        assert_eq!(f.boolean("B").expect("b"), Some(true));
        assert_eq!(f.integer("C").expect("c"), Some(42));
        let e = f.integer("D").expect_err("d");
        assert_eq!(e.code, ErrorCode::InvalidParameterValue);
        assert!(f.timestamp("E").expect("e").is_some());
        f.finish("X").expect("all taken");
    }

    #[test]
    fn lists_of_strings() {
        let mut f =
            form("SecurityGroupIds.SecurityGroupId.2=b&SecurityGroupIds.SecurityGroupId.1=a");
        assert_eq!(
            f.string_list("SecurityGroupIds", "SecurityGroupId")
                .expect("ok"),
            Some(vec!["a".into(), "b".into()])
        );
        let mut f = form("SecurityGroupIds=");
        assert_eq!(
            f.string_list("SecurityGroupIds", "SecurityGroupId")
                .expect("ok"),
            Some(vec![])
        );
        let mut f = form("");
        assert_eq!(
            f.string_list("SecurityGroupIds", "SecurityGroupId")
                .expect("ok"),
            None
        );
    }

    #[test]
    fn list_index_zero_and_gaps_are_refused() {
        for body in [
            "L.M.0=a",
            "L.M.1=a&L.M.3=c",
            "L.M.01=a",
            "L.M.x=a",
            "L=z",
            "L=&L.M.1=a",
        ] {
            let mut f = form(body);
            let e = f.string_list("L", "M").expect_err(body);
            assert_eq!(e.code, ErrorCode::InvalidQueryParameter, "{body}");
        }
    }

    #[test]
    fn lists_of_structures() {
        let mut f = form("Tags.Tag.1.Key=k1&Tags.Tag.1.Value=v1&Tags.Tag.2.Key=k2");
        let items = f.struct_list("Tags", "Tag").expect("ok").expect("some");
        assert_eq!(items.len(), 2);
        let mut second = items[1].clone();
        assert_eq!(second.string("Key").as_deref(), Some("k2"));
        assert_eq!(second.string("Value"), None);
        second.finish("T").expect("done");
        f.finish("T").expect("done");
    }

    #[test]
    fn leftovers_are_refused_with_their_full_name() {
        let mut f = form("Tags.Tag.1.Key=k&Tags.Tag.1.Bogus=z");
        let mut items = f.struct_list("Tags", "Tag").expect("ok").expect("some");
        let mut t = items.remove(0);
        t.string("Key");
        let e = t.finish("AddTagsToResource").expect_err("bogus");
        assert!(e.message.contains("Tags.Tag.1.Bogus"), "{}", e.message);
    }

    #[test]
    fn duplicates_are_refused() {
        assert!(Form::parse(b"A=1&A=2").is_err());
    }

    #[test]
    fn missing_required() {
        let mut f = form("");
        assert_eq!(
            f.required("ReplicationGroupId").expect_err("missing").code,
            ErrorCode::MissingParameter
        );
    }
}
