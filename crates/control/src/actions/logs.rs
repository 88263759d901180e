//! The CloudWatch Logs API subset: each request answered by the log store on its own thread.

use crate::logs::LogStoreThread;
use wire::logs::{LogsError, LogsResponse};

impl crate::Control {
    /// The log store's thread.
    pub(crate) fn log_store(&self) -> &LogStoreThread {
        &self.inner.logs
    }

    /// Serves one request of the CloudWatch Logs API on the log store's thread.
    pub async fn logs_request(
        &self,
        request: wire::logs::LogsRequest,
    ) -> Result<LogsResponse, LogsError> {
        let now_ms = crate::now().timestamp_millis();
        self.log_store()
            .run(move |s| s.serve(request, now_ms))
            .await
    }
}
