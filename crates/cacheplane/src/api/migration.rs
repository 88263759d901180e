//! TestMigration, StartMigration, CompleteMigration.

use control::Control;
use wire::input::{CompleteMigration, StartMigration, TestMigration};
use wire::output::envelope;
use wire::ApiError;

use super::to_api_error;

pub fn test_migration(c: &Control, input: TestMigration, rid: &str) -> Result<String, ApiError> {
    let g = c.test_migration(input).map_err(to_api_error)?;
    Ok(envelope("TestMigration", rid, |w| g.write(w)))
}

pub async fn start_migration(
    c: &Control,
    input: StartMigration,
    rid: &str,
) -> Result<String, ApiError> {
    let g = c.start_migration(input).await.map_err(to_api_error)?;
    Ok(envelope("StartMigration", rid, |w| g.write(w)))
}

pub async fn complete_migration(
    c: &Control,
    input: CompleteMigration,
    rid: &str,
) -> Result<String, ApiError> {
    let g = c.complete_migration(input).await.map_err(to_api_error)?;
    Ok(envelope("CompleteMigration", rid, |w| g.write(w)))
}
