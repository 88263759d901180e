//! CreateSnapshot, DescribeSnapshots, CopySnapshot, DeleteSnapshot.

handlers! {
    CreateSnapshot(c, i) => c.create_snapshot(i),
    DescribeSnapshots(c, i) => c.describe_snapshots(i),
    CopySnapshot(c, i) => c.copy_snapshot(i).await,
    DeleteSnapshot(c, i) => c.delete_snapshot(&i.snapshot_name),
}
