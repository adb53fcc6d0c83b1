"""The PostgreSQL/QHB supervisor: command builders, parsers, and the controller facade.

Pure (no I/O): flavour, lsn, commands, controldata, conninfo, settings, sync, status,
operation, stall, options.
Touching disk or processes: bindir (discovery), process (running programs as the database
user), files, datadir, postmaster, query (psycopg2), server (pg_ctl), config_files, and the
handlers bootstrap, basebackup, rewind and status_reader behind controller.PgController.
executor.LongOperationExecutor runs the long ones, one at a time, cancellable.
"""
