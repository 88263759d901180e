//! TestMigration.

use control::Control;
use wire::input::TestMigration;
use wire::output::envelope;
use wire::ApiError;

use super::to_api_error;

pub fn test_migration(c: &Control, input: TestMigration, rid: &str) -> Result<String, ApiError> {
    let g = c.test_migration(input).map_err(to_api_error)?;
    Ok(envelope("TestMigration", rid, |w| g.write(w)))
}
