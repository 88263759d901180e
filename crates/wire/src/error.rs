//! The error codes ElastiCache sends, with their HTTP statuses, and the `ErrorResponse` document.
//!
//! Clients match on `<Code>`, which for many errors differs from the model's shape name
//! (`ReplicationGroupAlreadyExistsFault` is sent as `ReplicationGroupAlreadyExists`); the table below is the
//! wire code and status from the botocore 1.44.5 model plus AWS's common errors.

use crate::xml::XmlWriter;

macro_rules! error_codes {
    ($($variant:ident => $code:literal, $status:literal;)*) => {
        /// Every error code this server can send.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode { $($variant,)* }

        impl ErrorCode {
            /// The `<Code>` element's text.
            pub fn code(self) -> &'static str {
                match self { $(Self::$variant => $code,)* }
            }
            /// The HTTP status the error is sent with.
            pub fn http_status(self) -> u16 {
                match self { $(Self::$variant => $status,)* }
            }
            /// Every code, for tests that check the table.
            pub const ALL: &'static [ErrorCode] = &[$(Self::$variant,)*];
        }
    };
}

error_codes! {
    // Common errors (AWS "Common Errors" page).
    IncompleteSignature => "IncompleteSignature", 400;
    InternalFailure => "InternalFailure", 500;
    InvalidAction => "InvalidAction", 400;
    InvalidClientTokenId => "InvalidClientTokenId", 403;
    InvalidParameterCombination => "InvalidParameterCombination", 400;
    InvalidParameterValue => "InvalidParameterValue", 400;
    InvalidQueryParameter => "InvalidQueryParameter", 400;
    MalformedQueryString => "MalformedQueryString", 404;
    MissingAction => "MissingAction", 400;
    MissingAuthenticationToken => "MissingAuthenticationToken", 403;
    MissingParameter => "MissingParameter", 400;
    RequestExpired => "RequestExpired", 400;
    ServiceUnavailable => "ServiceUnavailable", 503;
    SignatureDoesNotMatch => "SignatureDoesNotMatch", 403;
    // Not in AWS's list: the body is larger than the server accepts. Sent with 413.
    RequestEntityTooLarge => "RequestEntityTooLarge", 413;
    // Not in AWS's list: the body did not arrive in time (S3's name for it). Sent with 408.
    RequestTimeout => "RequestTimeout", 408;
    // Not in AWS's list: GET/POST are the only methods of the Query protocol.
    MethodNotAllowed => "MethodNotAllowed", 405;
    // Modelled errors (botocore 1.44.5).
    ApiCallRateForCustomerExceeded => "APICallRateForCustomerExceeded", 400;
    CacheClusterNotFound => "CacheClusterNotFound", 404;
    CacheClusterAlreadyExists => "CacheClusterAlreadyExists", 400;
    CacheParameterGroupNotFound => "CacheParameterGroupNotFound", 404;
    CacheParameterGroupAlreadyExists => "CacheParameterGroupAlreadyExists", 400;
    CacheParameterGroupQuotaExceeded => "CacheParameterGroupQuotaExceeded", 400;
    InvalidCacheParameterGroupState => "InvalidCacheParameterGroupState", 400;
    CacheSecurityGroupNotFound => "CacheSecurityGroupNotFound", 404;
    CacheSubnetGroupNotFound => "CacheSubnetGroupNotFoundFault", 400;
    CacheSubnetGroupAlreadyExists => "CacheSubnetGroupAlreadyExists", 400;
    CacheSubnetGroupInUse => "CacheSubnetGroupInUse", 400;
    CacheSubnetGroupQuotaExceeded => "CacheSubnetGroupQuotaExceeded", 400;
    CacheSubnetQuotaExceeded => "CacheSubnetQuotaExceededFault", 400;
    InvalidSubnet => "InvalidSubnet", 400;
    ReservedCacheNodeNotFound => "ReservedCacheNodeNotFound", 404;
    ReservedCacheNodesOfferingNotFound => "ReservedCacheNodesOfferingNotFound", 404;
    ServiceUpdateNotFound => "ServiceUpdateNotFoundFault", 404;
    SubnetInUse => "SubnetInUse", 400;
    ClusterQuotaForCustomerExceeded => "ClusterQuotaForCustomerExceeded", 400;
    InsufficientCacheClusterCapacity => "InsufficientCacheClusterCapacity", 400;
    InvalidArn => "InvalidARN", 400;
    InvalidCacheClusterState => "InvalidCacheClusterState", 400;
    InvalidReplicationGroupState => "InvalidReplicationGroupState", 400;
    InvalidVpcNetworkState => "InvalidVPCNetworkStateFault", 400;
    MigrationHealth => "MigrationHealthFault", 400;
    NodeGroupNotFound => "NodeGroupNotFoundFault", 404;
    NodeQuotaForClusterExceeded => "NodeQuotaForClusterExceeded", 400;
    NodeGroupsPerReplicationGroupQuotaExceeded => "NodeGroupsPerReplicationGroupQuotaExceeded", 400;
    NodeQuotaForCustomerExceeded => "NodeQuotaForCustomerExceeded", 400;
    ReplicationGroupAlreadyExists => "ReplicationGroupAlreadyExists", 400;
    ReplicationGroupAlreadyUnderMigration => "ReplicationGroupAlreadyUnderMigrationFault", 400;
    ReplicationGroupNotFound => "ReplicationGroupNotFoundFault", 404;
    ReplicationGroupNotUnderMigration => "ReplicationGroupNotUnderMigrationFault", 400;
    SnapshotNotFound => "SnapshotNotFoundFault", 404;
    TagNotFound => "TagNotFound", 404;
    TagQuotaPerResourceExceeded => "TagQuotaPerResourceExceeded", 400;
    TestFailoverNotAvailable => "TestFailoverNotAvailableFault", 400;
    UserGroupNotFound => "UserGroupNotFound", 404;
    DefaultUserAssociatedToUserGroup => "DefaultUserAssociatedToUserGroup", 400;
    DefaultUserRequired => "DefaultUserRequired", 400;
    DuplicateUserName => "DuplicateUserName", 400;
    InvalidUserGroupState => "InvalidUserGroupState", 400;
    InvalidUserState => "InvalidUserState", 400;
    UserAlreadyExists => "UserAlreadyExists", 400;
    UserGroupAlreadyExists => "UserGroupAlreadyExists", 400;
    UserGroupQuotaExceeded => "UserGroupQuotaExceeded", 400;
    UserNotFound => "UserNotFound", 404;
    UserQuotaExceeded => "UserQuotaExceeded", 400;
    SnapshotAlreadyExists => "SnapshotAlreadyExistsFault", 400;
    InvalidSnapshotState => "InvalidSnapshotState", 400;
    SnapshotQuotaExceeded => "SnapshotQuotaExceededFault", 400;
    SnapshotFeatureNotSupported => "SnapshotFeatureNotSupportedFault", 400;
}

/// An error answer: a code and a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// `Sender` for every client error, `Receiver` for the server's own failures.
    pub fn fault_type(&self) -> &'static str {
        if self.code.http_status() >= 500 {
            "Receiver"
        } else {
            "Sender"
        }
    }

    /// The `ErrorResponse` document.
    pub fn to_xml(&self, request_id: &str) -> String {
        let mut w = XmlWriter::new();
        w.open_ns("ErrorResponse", crate::XML_NAMESPACE);
        w.open("Error");
        w.text("Type", self.fault_type());
        w.text("Code", self.code.code());
        w.text("Message", &self.message);
        w.close("Error");
        w.text("RequestId", request_id);
        w.close("ErrorResponse");
        w.finish()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.code(), self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_wire_codes_not_shape_names() {
        assert_eq!(
            ErrorCode::ReplicationGroupAlreadyExists.code(),
            "ReplicationGroupAlreadyExists"
        );
        assert_eq!(
            ErrorCode::ReplicationGroupNotFound.code(),
            "ReplicationGroupNotFoundFault"
        );
        assert_eq!(ErrorCode::ReplicationGroupNotFound.http_status(), 404);
        assert_eq!(
            ErrorCode::CacheClusterNotFound.code(),
            "CacheClusterNotFound"
        );
        for c in ErrorCode::ALL {
            assert!((400..600).contains(&c.http_status()), "{c:?}");
        }
    }

    #[test]
    fn error_response_shape() {
        let xml = ApiError::new(ErrorCode::InvalidParameterValue, "a < b & c").to_xml("rid");
        assert!(xml.starts_with(
            "<ErrorResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\">"
        ));
        assert!(xml.contains("<Error><Type>Sender</Type><Code>InvalidParameterValue</Code><Message>a &lt; b &amp; c</Message></Error><RequestId>rid</RequestId>"));
        let xml = ApiError::new(ErrorCode::InvalidParameterValue, "nul \u{0} here").to_xml("rid");
        assert!(xml.contains("nul \u{FFFD} here"));
    }
}
