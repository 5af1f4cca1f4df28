"""`python -m indexer verify [--repair]`: both sides in printed-id order (`scans`: one point-in-time scan of the
index, one sorted read of MongoDB), the pure comparison (`drift`), the fixes (`repairs`) and the command (`command`).
The worker's reconciliation of hard deletes uses the same scans and comparison."""
