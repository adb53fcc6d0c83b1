"""The bundled WAL archive command (`qluster-wal`), standing in for seed 000's
`qbackup backup-wal` / `restore-wal`."""
