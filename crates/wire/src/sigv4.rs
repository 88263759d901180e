//! AWS Signature Version 4, header form, as pure functions: [`verify`] for the server, [`sign`] for tests and
//! benchmarks that send requests no SDK would.
//!
//! The server recomputes the signature from the request as received (method, path, query, the headers the
//! client listed in `SignedHeaders`, and SHA-256 of the body), compares it in constant time, checks the
//! credential scope (date, region, service `elasticache`) and rejects a clock skew over 15 minutes.

use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ErrorCode};

type HmacSha256 = Hmac<Sha256>;

/// The allowed difference between the request's `X-Amz-Date` and the server's clock.
pub const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// What the server needs to know about one request.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// The path as received, still percent-encoded.
    pub path: &'a str,
    /// The raw query string (without `?`), still percent-encoded.
    pub query: &'a str,
    /// Every header as received; names in any case.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// Who the verified caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub access_key_id: String,
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    // An HMAC key of any length is accepted; `new_from_slice` cannot fail for HMAC.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// URI-encodes as SigV4 says: every byte but `A-Z a-z 0-9 - _ . ~` as `%XY` with upper-case hex.
pub fn uri_encode(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for &b in s {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex_digits = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex_digits.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// The canonical query string: each name and value decoded, re-encoded, sorted.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            // A '+' in a query string is a space only for form decoding; SigV4 treats bytes as sent.
            (
                uri_encode(&percent_decode(k)),
                uri_encode(&percent_decode(v)),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The canonical URI for non-S3 services: each segment of the (already encoded) path encoded again.
fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".to_string();
    }
    path.split('/')
        .map(|seg| uri_encode(seg.as_bytes()))
        .collect::<Vec<_>>()
        .join("/")
}

fn header_value(headers: &[(&str, &str)], name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

fn canonical_request(parts: &RequestParts<'_>, signed_headers: &[&str]) -> Option<String> {
    let mut canon_headers = String::new();
    for h in signed_headers {
        let v = header_value(parts.headers, h)?;
        canon_headers.push_str(h);
        canon_headers.push(':');
        canon_headers.push_str(&v);
        canon_headers.push('\n');
    }
    Some(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        parts.method,
        canonical_uri(parts.path),
        canonical_query(parts.query),
        canon_headers,
        signed_headers.join(";"),
        sha256_hex(parts.body)
    ))
}

fn signature(
    secret: &str,
    date: &str,
    region: &str,
    service: &str,
    amz_date: &str,
    creq: &str,
) -> String {
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let sts = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(creq.as_bytes())
    );
    let mut k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in [region, service, "aws4_request"] {
        k = hmac(&k, part.as_bytes());
    }
    hex::encode(hmac(&k, sts.as_bytes()))
}

fn err(code: ErrorCode, msg: impl Into<String>) -> ApiError {
    ApiError::new(code, msg)
}

/// The parsed `Authorization` header.
struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    terminator: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, ApiError> {
    let incomplete = |what: &str| {
        err(
            ErrorCode::IncompleteSignature,
            format!("Authorization header is malformed: {what}. Expected 'AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...'."),
        )
    };
    let (algo, rest) = value
        .trim()
        .split_once(' ')
        .ok_or_else(|| incomplete("no algorithm"))?;
    if algo != "AWS4-HMAC-SHA256" {
        return Err(incomplete(
            "the only supported algorithm is AWS4-HMAC-SHA256",
        ));
    }
    let (mut credential, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            sig = Some(v);
        }
    }
    let credential = credential.ok_or_else(|| incomplete("Credential is missing"))?;
    let signed = signed.ok_or_else(|| incomplete("SignedHeaders is missing"))?;
    let signature = sig.ok_or_else(|| incomplete("Signature is missing"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = scope[..] else {
        return Err(incomplete(
            "Credential must be AccessKeyId/YYYYMMDD/region/service/aws4_request",
        ));
    };
    let signed_headers: Vec<&str> = signed.split(';').collect();
    if signed_headers
        .iter()
        .any(|h| h.is_empty() || *h != h.to_ascii_lowercase())
    {
        return Err(incomplete(
            "SignedHeaders must be lower-case names separated by ';'",
        ));
    }
    Ok(Authorization {
        access_key_id,
        date,
        region,
        service,
        terminator,
        signed_headers,
        signature,
    })
}

/// The headers an `Authorization` header's signature covers (its `SignedHeaders`), or `None` when it is not a
/// well-formed SigV4 header (which [`verify_headers`] refuses with the reason).
pub fn signed_headers(authorization: &str) -> Option<Vec<&str>> {
    parse_authorization(authorization)
        .ok()
        .map(|a| a.signed_headers)
}

/// Checks what the headers alone can tell of a request's authentication: an `Authorization` header of the
/// right form, a known access key id, a scope naming this region and service, a date within 15 minutes. The
/// server runs this before it reads a body, so a request that cannot authenticate never costs its body's memory.
pub fn verify_headers(
    headers: &[(&str, &str)],
    secret_for: impl Fn(&str) -> Option<String>,
    region: &str,
    service: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let auth_value = authorization_of(headers)?;
    check_headers(headers, &auth_value, secret_for, region, service, now).map(|_| ())
}

fn authorization_of(headers: &[(&str, &str)]) -> Result<String, ApiError> {
    header_value(headers, "authorization").ok_or_else(|| {
        err(
            ErrorCode::MissingAuthenticationToken,
            "Request is missing Authentication Token: sign it with AWS Signature Version 4.",
        )
    })
}

/// The header checks of [`verify_headers`]; returns the parsed header, the secret and the request's date.
fn check_headers<'a>(
    headers: &[(&str, &str)],
    auth_value: &'a str,
    secret_for: impl Fn(&str) -> Option<String>,
    region: &str,
    service: &str,
    now: DateTime<Utc>,
) -> Result<(Authorization<'a>, String, String), ApiError> {
    let auth = parse_authorization(auth_value)?;
    if !auth.signed_headers.contains(&"host") {
        return Err(err(
            ErrorCode::IncompleteSignature,
            "SignedHeaders must include host.",
        ));
    }
    let amz_date = header_value(headers, "x-amz-date").ok_or_else(|| {
        err(
            ErrorCode::IncompleteSignature,
            "Authorization header requires the 'X-Amz-Date' header.",
        )
    })?;
    let when = NaiveDateTime::parse_from_str(&amz_date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| {
            err(
                ErrorCode::IncompleteSignature,
                format!("X-Amz-Date '{amz_date}' is not YYYYMMDDTHHMMSSZ."),
            )
        })?
        .and_utc();
    let Some(secret) = secret_for(auth.access_key_id) else {
        return Err(err(
            ErrorCode::InvalidClientTokenId,
            "The security token included in the request is invalid: the access key id is not known to this server.",
        ));
    };
    if auth.terminator != "aws4_request" || !amz_date.starts_with(auth.date) {
        return Err(err(
            ErrorCode::SignatureDoesNotMatch,
            "Credential scope must be <date of X-Amz-Date>/<region>/<service>/aws4_request.",
        ));
    }
    if auth.service != service {
        return Err(err(
            ErrorCode::SignatureDoesNotMatch,
            format!("Credential should be scoped to correct service: '{service}'."),
        ));
    }
    if auth.region != region {
        return Err(err(
            ErrorCode::SignatureDoesNotMatch,
            format!("Credential should be scoped to a valid region: this server is '{region}', not '{}'.", auth.region),
        ));
    }
    let skew = (now - when).num_seconds();
    if skew.abs() > MAX_SKEW_SECONDS {
        return Err(err(
            ErrorCode::RequestExpired,
            format!(
                "Request has expired: its date {amz_date} is {} minutes from the server's time {} (at most 15 allowed).",
                skew.abs() / 60,
                now.format("%Y%m%dT%H%M%SZ")
            ),
        ));
    }
    Ok((auth, secret, amz_date))
}

/// Verifies a request. `secret_for` looks an access key id up; `region` and `service` are what the scope must
/// name.
pub fn verify(
    parts: &RequestParts<'_>,
    secret_for: impl Fn(&str) -> Option<String>,
    region: &str,
    service: &str,
    now: DateTime<Utc>,
) -> Result<Verified, ApiError> {
    let auth_value = authorization_of(parts.headers)?;
    let (auth, secret, amz_date) =
        check_headers(parts.headers, &auth_value, secret_for, region, service, now)?;
    let creq = canonical_request(parts, &auth.signed_headers).ok_or_else(|| {
        err(
            ErrorCode::IncompleteSignature,
            "A header named in SignedHeaders is not in the request.",
        )
    })?;
    let expected = signature(
        &secret,
        auth.date,
        auth.region,
        auth.service,
        &amz_date,
        &creq,
    );
    if expected.as_bytes().ct_eq(auth.signature.as_bytes()).into() {
        Ok(Verified {
            access_key_id: auth.access_key_id.to_string(),
        })
    } else {
        Err(err(
            ErrorCode::SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
        ))
    }
}

/// Signs a request and returns the `Authorization` header value. Every header in `parts.headers` is signed,
/// so it must already hold `host` and `x-amz-date`.
pub fn sign(
    parts: &RequestParts<'_>,
    access_key_id: &str,
    secret: &str,
    region: &str,
    service: &str,
) -> String {
    let mut names: Vec<String> = parts
        .headers
        .iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    let names_ref: Vec<&str> = names.iter().map(String::as_str).collect();
    let amz_date = header_value(parts.headers, "x-amz-date").unwrap_or_default();
    let date = amz_date.get(..8).unwrap_or_default();
    let creq = canonical_request(parts, &names_ref).unwrap_or_default();
    let sig = signature(secret, date, region, service, &amz_date, &creq);
    format!(
        "AWS4-HMAC-SHA256 Credential={access_key_id}/{date}/{region}/{service}/aws4_request, SignedHeaders={}, Signature={sig}",
        names_ref.join(";")
    )
}

/// The headers of a signed `application/x-www-form-urlencoded` POST of `body` to `host` (`content-type`,
/// `x-amz-date` and `authorization`; the client adds `host`), for tests and benchmarks that send requests by hand.
pub fn signed_form_post(
    host: &str,
    body: &[u8],
    amz_date: &str,
    access_key_id: &str,
    secret: &str,
    region: &str,
) -> Vec<(&'static str, String)> {
    let ct = "application/x-www-form-urlencoded; charset=utf-8";
    let headers = [
        ("content-type", ct),
        ("host", host),
        ("x-amz-date", amz_date),
    ];
    let parts = RequestParts {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body,
    };
    let authz = sign(&parts, access_key_id, secret, region, "elasticache");
    vec![
        ("content-type", ct.to_string()),
        ("x-amz-date", amz_date.to_string()),
        ("authorization", authz),
    ]
}

#[cfg(test)]
mod tests {
    //! Vectors from AWS's published SigV4 test suite (`aws-sig-v4-test-suite`, 2015-08-30, key AKIDEXAMPLE) and
    //! the IAM ListUsers example of the SigV4 documentation.
    use super::*;

    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn at() -> DateTime<Utc> {
        NaiveDateTime::parse_from_str("20150830T123600Z", "%Y%m%dT%H%M%SZ")
            .expect("date")
            .and_utc()
    }

    fn lookup(k: &str) -> Option<String> {
        (k == AKID).then(|| SECRET.to_string())
    }

    fn check(
        method: &str,
        path: &str,
        query: &str,
        extra: &[(&str, &str)],
        body: &[u8],
        service: &str,
        sig: &str,
    ) {
        let host = if service == "iam" {
            "iam.amazonaws.com"
        } else {
            "example.amazonaws.com"
        };
        let mut headers: Vec<(&str, &str)> =
            vec![("Host", host), ("X-Amz-Date", "20150830T123600Z")];
        headers.extend_from_slice(extra);
        let parts = RequestParts {
            method,
            path,
            query,
            headers: &headers,
            body,
        };
        let authz = sign(&parts, AKID, SECRET, "us-east-1", service);
        assert!(authz.ends_with(&format!("Signature={sig}")), "{authz}");
        let mut with_auth = headers.clone();
        with_auth.push(("Authorization", &authz));
        let parts = RequestParts {
            headers: &with_auth,
            ..parts
        };
        verify(&parts, lookup, "us-east-1", service, at()).expect("verifies");
    }

    #[test]
    fn aws_test_suite_vectors() {
        check(
            "GET",
            "/",
            "",
            &[],
            b"",
            "service",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        );
        check(
            "POST",
            "/",
            "",
            &[],
            b"",
            "service",
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
        );
        check(
            "POST",
            "/",
            "Param1=value1",
            &[],
            b"",
            "service",
            "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
        );
        check(
            "POST",
            "/",
            "",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"Param1=value1",
            "service",
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
        );
        check(
            "POST",
            "/",
            "",
            &[(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf8",
            )],
            b"Param1=value1",
            "service",
            "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe",
        );
        check(
            "GET",
            "/",
            "Action=ListUsers&Version=2010-05-08",
            &[(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            b"",
            "iam",
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        );
    }

    fn signed(
        body: &[u8],
        secret: &str,
        date: &str,
        region: &str,
    ) -> (Vec<(String, String)>, Vec<u8>) {
        let headers = vec![
            (
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("host", "127.0.0.1:9000"),
            ("x-amz-date", date),
        ];
        let parts = RequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body,
        };
        let authz = sign(&parts, AKID, secret, region, "elasticache");
        let mut out: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        out.push(("authorization".into(), authz));
        (out, body.to_vec())
    }

    fn run(headers: &[(String, String)], body: &[u8]) -> Result<Verified, ApiError> {
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let parts = RequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &h,
            body,
        };
        verify(&parts, lookup, "us-east-1", "elasticache", at())
    }

    #[test]
    fn failures_have_the_right_codes() {
        let body = b"Action=DescribeEvents&Version=2015-02-02";
        let (h, b) = signed(body, SECRET, "20150830T123600Z", "us-east-1");
        assert!(run(&h, &b).is_ok());
        // Body changed after signing.
        assert_eq!(
            run(&h, b"Action=X").expect_err("x").code,
            ErrorCode::SignatureDoesNotMatch
        );
        // Wrong secret.
        let (h2, b2) = signed(body, "nope", "20150830T123600Z", "us-east-1");
        assert_eq!(
            run(&h2, &b2).expect_err("x").code,
            ErrorCode::SignatureDoesNotMatch
        );
        // Unknown key.
        let h3: Vec<(String, String)> = h
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    if k == "authorization" {
                        v.replace(AKID, "AKIDOTHER")
                    } else {
                        v.clone()
                    },
                )
            })
            .collect();
        assert_eq!(
            run(&h3, &b).expect_err("x").code,
            ErrorCode::InvalidClientTokenId
        );
        // Unsigned.
        let h4: Vec<(String, String)> = h
            .iter()
            .filter(|(k, _)| k != "authorization")
            .cloned()
            .collect();
        assert_eq!(
            run(&h4, &b).expect_err("x").code,
            ErrorCode::MissingAuthenticationToken
        );
        // Twenty minutes old.
        let (h5, b5) = signed(body, SECRET, "20150830T121600Z", "us-east-1");
        assert_eq!(
            run(&h5, &b5).expect_err("x").code,
            ErrorCode::RequestExpired
        );
        // Other region.
        let (h6, b6) = signed(body, SECRET, "20150830T123600Z", "eu-west-1");
        assert_eq!(
            run(&h6, &b6).expect_err("x").code,
            ErrorCode::SignatureDoesNotMatch
        );
        // Garbage header.
        let h7 = vec![(
            "authorization".to_string(),
            "AWS4-HMAC-SHA256 nonsense".to_string(),
        )];
        assert_eq!(
            run(&h7, &b).expect_err("x").code,
            ErrorCode::IncompleteSignature
        );
    }

    #[test]
    fn percent_decoding_is_total() {
        for s in ["%", "%4", "%zz", "a%20b", "%%%", "%é", "%\u{e9}x"] {
            let _ = percent_decode(s);
        }
        assert_eq!(percent_decode("a%20b"), b"a b");
    }
}
