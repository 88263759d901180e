//! TestMigration, StartMigration, CompleteMigration.

handlers! {
    TestMigration(c, i) => c.test_migration(i),
    StartMigration(c, i) => c.start_migration(i).await,
    CompleteMigration(c, i) => c.complete_migration(i).await,
}
